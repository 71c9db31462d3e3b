"""Quirks of the data that a ranking result records (``protocol.data_quirks``), so a reader can
judge its numbers without the data at hand.

- Timestamp ties at the split points: when a user's test (or validation) interaction has the
  same timestamp as the one before it, which of the two is the target rests on the source
  file's row order alone (MovieLens users often rate several films in the same second).
- Test items already in the history: a re-consumed item is a target a method may see
  (``sequential`` masks history items, so such a target counts as a miss there).
- Where item titles came from: LLM methods read them as text, and P5 releases without titles
  put IDGenRec's generated ids in their place.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from benchmark.data.schema import TITLES_IDGENREC, Dataset
from tasks.split import MIN_INTERACTIONS

#: how the chronology orders interactions with equal timestamps (see ``benchmark.data.schema``)
TIE_BREAK = "source file row order (stable sort)"


def tie_shares(interactions: pd.DataFrame) -> tuple[float, float]:
    """Shares of split users (at least ``MIN_INTERACTIONS``) whose validation and whose test
    interaction has the timestamp of the interaction just before it.

    ``interactions`` is ``Dataset.interactions``: sorted by user, then chronologically."""
    users = interactions["user"].to_numpy()
    stamps = interactions["timestamp"].to_numpy()
    ends = np.append(np.flatnonzero(np.diff(users)) + 1, len(users)) if len(users) else users
    starts = np.append(0, ends[:-1]) if len(users) else users
    last = (ends - 1)[ends - starts >= MIN_INTERACTIONS]
    if not len(last):
        return 0.0, 0.0
    valid = stamps[last - 1] == stamps[last - 2]
    test = stamps[last] == stamps[last - 1]
    return float(valid.mean()), float(test.mean())


def data_quirks(dataset: Dataset, *, targets_in_history: int, n_evaluated: int) -> dict[str, Any]:
    """The ``data_quirks`` record of a ranking result on ``dataset`` that evaluated
    ``n_evaluated`` users, ``targets_in_history`` of whose test items were in their history."""
    valid, test = tie_shares(dataset.interactions)
    return {
        "valid_ties_previous": valid,
        "test_ties_previous": test,
        "tie_break": TIE_BREAK,
        "test_in_history": targets_in_history / n_evaluated if n_evaluated else 0.0,
        "titles": dataset.titles_origin,
    }


def describe_quirks(q: dict[str, Any] | None) -> str:
    """The record of :func:`data_quirks` as a leaderboard header line: ties at the split
    points, re-consumed test items, where titles came from."""
    if not q:
        return "not recorded by these results (they predate the record)"
    text = (f"{q['test_ties_previous']:.1%} of users' test and {q['valid_ties_previous']:.1%} of "
            f"their validation interactions share a timestamp with the one before, so "
            f"{q['tie_break']} decides which is the target")
    if q.get("test_in_history"):
        text += f"; {q['test_in_history']:.1%} of test items are already in the user's history"
    titles = q.get("titles")
    if titles:
        text += f"; item titles: {titles}"
        if titles == TITLES_IDGENREC:
            text += " (LLM methods read these ids as titles)"
    return text
