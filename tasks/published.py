"""Candidate lists published beside a dataset, ranked the way their authors ranked them.

LLMRank (Hou et al., ECIR 2024) ships, next to its pre-split Games-6k files, one candidate
file per retrieval strategy: ``Games-6k.random``, ``.bm25``, ``.bert``, ``.pop``, ``.bpr``,
``.gru4rec``, ``.sasrec`` and the mix ``.rabmbepobpgrsa_3``. Each line is one selected user:
``<user token>\\t<item token> <item token> ...`` (100 items for the single strategies, no
header). A task option ``candidates: <suffix>`` ranks these lists instead of sampled ones.

How a list becomes the candidates of one user follows LLMRank's evaluation defaults
(``has_gt: True``, ``fix_pos: -1``): the user's test target is taken out of the list where it
is listed, the first ``n_negatives`` remaining items are kept in file order, the target is
added and the row is shuffled, here with the run's seeded generator. The negatives are used
as published: LLMRank's ``random`` lists draw from every item, so some are items the user
interacted with; the protocol counts them (``negatives_in_history``) instead of dropping them.
Only the file's users are evaluated; tokens the dataset does not know are refused (LLMRank
maps them to its padding item).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmark.errors import ConfigError, DataError
from tasks.sampling import task_seed

if TYPE_CHECKING:
    from benchmark.data.schema import Dataset
    from tasks.split import Split

#: a ``candidates`` option value: a file suffix (no path), e.g. ``random`` or ``bm25``
SUFFIX = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")

#: how published lists become candidate rows, as recorded in each result (``n``: negatives)
PUBLISHED_RULE = (
    "published lists from {file}: the target taken out where listed, the first {n} remaining "
    "items kept in file order, the target added and the row shuffled with the run's seed "
    "(LLMRank's has_gt protocol); negatives not filtered against the user's history"
)


@dataclass(frozen=True)
class PublishedLists:
    """One candidate file, read against a dataset: rows sorted by user index."""

    path: Path
    sha256: str
    users: np.ndarray  # int64 user index per row, ascending
    items: list[np.ndarray]  # int64 item indices per row, in file order
    lines: np.ndarray  # the 1-based file line of each row, for messages

    def lists_hash(self, content_hash: str) -> str:
        """What persisted candidate rows are keyed by: the data and the file together."""
        return hashlib.sha256(f"{content_hash}:{self.sha256}".encode()).hexdigest()


def check_suffix(task_name: str, value: object) -> str:
    """A ``candidates`` option value, or a ConfigError that says what is accepted."""
    if not isinstance(value, str) or not SUFFIX.match(value):
        raise ConfigError(
            f"task_options.{task_name}.candidates: the suffix of a candidate file beside the "
            f"dataset's files (e.g. 'random' for Games-6k.random), got {value!r}"
        )
    return value


def find_candidate_file(dataset: Dataset, suffix: str) -> Path:
    """``<name>.<suffix>`` in the directory the dataset was loaded from."""
    source = Path(dataset.source)
    directory = source if source.is_dir() else source.parent
    if not directory.is_dir():
        raise ConfigError(
            f"candidates {suffix!r}: dataset {dataset.name!r} was not loaded from a directory "
            f"({dataset.source}), so it has no published candidate files; drop the option to "
            "rank sampled candidates"
        )
    found = sorted(p for p in directory.glob(f"*.{suffix}") if p.is_file())
    named = [p for p in found if p.name == f"{dataset.name}.{suffix}"]
    if named:
        return named[0]
    if len(found) == 1:
        return found[0]
    listed = ", ".join(p.name for p in found) or "none"
    raise ConfigError(
        f"candidates {suffix!r}: expected one file named {dataset.name}.{suffix} in "
        f"{directory} (found: {listed}); LLMRank ships e.g. Games-6k.random beside "
        "Games-6k.test.inter"
    )


#: parsed files by (path, size, mtime, dataset hash): a run asks for the same file in its data
#: check, in each seed's sample check and in each method's evaluation
_PARSED: dict[tuple[str, int, int, str], PublishedLists] = {}


def load_published(dataset: Dataset, suffix: str) -> PublishedLists:
    """The dataset's ``<name>.<suffix>`` list file, parsed once per run while it is unchanged
    (a file edited between runs is parsed again: its size or mtime moved)."""
    path = find_candidate_file(dataset, suffix)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, dataset.content_hash)
    if key not in _PARSED:
        _PARSED[key] = read_published(path, dataset)
    return _PARSED[key]


def read_published(path: Path, dataset: Dataset) -> PublishedLists:
    """Parse a candidate file and map its tokens to the dataset's user and item indices."""
    data = path.read_bytes()
    user_index = {raw: i for i, raw in enumerate(dataset.user_raw_ids)}
    items = dataset.items
    item_index = {str(raw): int(i) for raw, i in zip(items["raw_id"], items["item"])}
    rows: dict[int, tuple[int, np.ndarray]] = {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text ({exc.reason})", path=path) from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        user, sep, listed = line.partition("\t")
        tokens = listed.split()
        if not sep or not user.strip() or not tokens:
            raise DataError(
                "expected '<user token><TAB><item token> <item token> ...' (LLMRank's "
                "candidate file layout)",
                path=path,
                line=number,
            )
        user = user.strip()
        if user not in user_index:
            raise DataError(
                f"user {user!r} is not in dataset {dataset.name!r}; a candidate file must "
                "belong to the dataset beside it",
                path=path,
                line=number,
            )
        unknown = [t for t in tokens if t not in item_index]
        if unknown:
            raise DataError(
                f"item {unknown[0]!r} is not in dataset {dataset.name!r} ({len(unknown)} "
                "unknown on this line); a candidate file must belong to the dataset beside it",
                path=path,
                line=number,
            )
        idx = user_index[user]
        if idx in rows:
            raise DataError(
                f"user {user!r} has a second list (first on line {rows[idx][0]})",
                path=path,
                line=number,
            )
        rows[idx] = (number, np.array([item_index[t] for t in tokens], dtype=np.int64))
    if not rows:
        raise DataError("no candidate lists (one line per user expected)", path=path)
    order = sorted(rows)
    return PublishedLists(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        users=np.array(order, dtype=np.int64),
        items=[rows[u][1] for u in order],
        lines=np.array([rows[u][0] for u in order], dtype=np.int64),
    )


def published_candidates(
    lists: PublishedLists,
    split: Split,
    n_negatives: int,
    *,
    seed: int,
    task_name: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``(candidates [U, n_negatives + 1], target_col)`` for the file's users
    (``lists.users``, ascending split user indices) under LLMRank's rule (module docstring)."""
    position = {int(u): i for i, u in enumerate(split.users)}
    rng = np.random.default_rng(task_seed(seed, task_name))
    cands = np.empty((len(lists.users), n_negatives + 1), dtype=np.int64)
    target_col = np.empty(len(lists.users), dtype=np.int64)
    for row, (user, items, line) in enumerate(zip(lists.users, lists.items, lists.lines)):
        if int(user) not in position:
            raise DataError(
                "this user is not in the split (too few interactions for a leave-one-out "
                "split); remove the line or the user",
                path=lists.path,
                line=int(line),
            )
        target = int(split.test[position[int(user)]])
        negatives = items[items != target]
        if len(negatives) < n_negatives:
            raise ConfigError(
                f"{lists.path.name}, line {int(line)}: {len(negatives)} items besides the "
                f"target, fewer than the task's {n_negatives} negatives; set "
                f"task_options.<task>.n_negatives to at most {len(negatives)}"
            )
        full = np.append(negatives[:n_negatives], target)
        order = rng.permutation(n_negatives + 1)
        cands[row] = full[order]
        target_col[row] = int(np.flatnonzero(order == n_negatives)[0])
    return cands, target_col


def published_protocol(
    lists: PublishedLists,
    split: Split,
    users: np.ndarray,
    cands: np.ndarray,
    target_col: np.ndarray,
) -> dict[str, object]:
    """What a result records about the file and the rows evaluated (``users``, a subset of the
    file's, with their candidate rows): the file's name and hash, how many evaluated lists named
    the target, and how many kept negatives are items the user interacted with."""
    position = {int(u): i for i, u in enumerate(split.users)}
    listed_row = {int(u): r for r, u in enumerate(lists.users)}
    listed = 0
    in_history = 0
    for row, user in enumerate(users):
        i = position[int(user)]
        target = int(split.test[i])
        listed += bool((lists.items[listed_row[int(user)]] == target).any())
        seen = set(split.train[i].tolist()) | {int(split.valid[i])}
        negatives = np.delete(cands[row], target_col[row])
        in_history += sum(int(x) in seen for x in negatives.tolist())
    return {
        "file": lists.path.name,
        "sha256": lists.sha256,
        "users_listed": int(len(lists.users)),
        "lists_naming_the_target": int(listed),
        "negatives_in_history": int(in_history),
    }
