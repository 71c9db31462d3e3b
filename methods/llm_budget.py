"""How many new tokens a generated ranking may take, and how it says it is finished.

A ranking answer cut by its token budget ranks only the candidates it reached; the harness then
ranks the rest last in list order, so a budget too small for the list measures the budget, not
the model. (On ML-100K ``rerank`` with a fixed 80 tokens, 180-200 of 200 answers were cut and
12-20% of each list was read back.) So the budget follows the list: it is the token count, in
the backend's own tokenizer, of the most verbose full answer :mod:`methods.llm_parsing` reads,
one ``[k] title`` line per candidate in list order, then the end marker, with a margin for a
lead-in sentence. Small models often write titles when asked for numbers; this budget covers
that answer too, so the model's own choice of format cannot cut it.

The other half is the stop condition: every ranking prompt asks the model to finish with
:data:`END_MARK`, and generation stops at it (:data:`STOP`), so a model that complies spends no
tokens after the list. A model that ignores it still stops at its end-of-sequence token or the
budget; ``finish_reason == "length"`` counts the answers the budget cut.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from methods.params import param, positive_int_or

__all__ = [
    "AUTO",
    "END_MARK",
    "END_SENTENCE",
    "LEAD_IN_TOKENS",
    "SLACK",
    "STOP",
    "answer_budget",
    "budget_param",
    "check_budget",
    "full_answer",
]

#: ``max_new_tokens`` value that derives the budget per list (:func:`answer_budget`)
AUTO = "auto"
#: the word a ranking answer ends with, and the stop strings that end generation there
END_MARK = "END"
STOP = (END_MARK,)
#: the sentence every ranking prompt's output format ends with
END_SENTENCE = f"After the last candidate, write {END_MARK}."
#: margin over the full answer's tokens: a lead-in sentence ("Here is the ranking:") and a
#: tokenisation that differs in context (a title after a newline vs. at the start)
LEAD_IN_TOKENS = 24
SLACK = 1.1


def full_answer(titles: Sequence[str]) -> str:
    """The most verbose complete answer the parser reads for a list of ``titles``: one
    ``[k] title`` line per candidate, then the end marker."""
    lines = [f"[{k}] {title}" for k, title in enumerate(titles, start=1)]
    return "\n".join([*lines, END_MARK])


def answer_budget(encode: Any, titles: Sequence[str]) -> int:
    """New tokens for a full ranking of ``titles``: ``ceil(SLACK * tokens(full_answer)) +
    LEAD_IN_TOKENS``, counted by ``encode`` (the backend's ``encode``: text -> token ids)."""
    return math.ceil(SLACK * len(encode(full_answer(titles)))) + LEAD_IN_TOKENS


#: ``max_new_tokens`` is ``"auto"`` or a positive integer (a fixed budget, for studying what a
#: smaller one costs)
check_budget = positive_int_or(AUTO, "a budget derived from each candidate list")


def budget_param() -> Any:
    """The ``max_new_tokens`` field of a generating method's ``Params`` (default ``auto``)."""
    return param(AUTO, check=check_budget)

