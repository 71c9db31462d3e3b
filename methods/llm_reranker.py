"""What every LLM re-ranker shares: item texts, the run's LLM, and the two ways to answer.

``llmrank`` and ``rpp`` (and their score-mode variants) differ in how they build a user's
prompt; everything around the prompt is the same and lives here, in :class:`LLMReranker`:

- **Fitting prep** (:meth:`LLMReranker.prepare`): every item's title (else ``item <raw id>``)
  and genres, what the items are called ("movie" on MovieLens data), and the run's LLM, loaded
  once so that predict time measures answering only.
- **Generate mode** (:meth:`LLMReranker.generate_rankings`): greedy answers with a token
  budget that follows the list and a stop at ``END`` (:mod:`methods.llm_budget`), parsed by
  :mod:`methods.llm_parsing`; candidates an answer does not rank follow in list order, and the
  score of rank ``r`` is ``-r`` (no ties). The answer statistics go to ``predict_info``.
- **Score mode** (:func:`score_titles`): each candidate's title log-likelihood as the answer,
  through the backends' scoring requests (the prompt encoded once per user).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, ClassVar

import numpy as np
import torch

from benchmark.backends.llm import GenerateRequest, LLMBackend, LLMSpec, ScoreRequest
from benchmark.data.schema import Dataset
from methods.base import FitContext, Method
from methods.llm_budget import AUTO, STOP, answer_budget
from methods.llm_parsing import complete_order, parse_ranking
from methods.params import param, word_or_auto

__all__ = [
    "NORMALISATIONS",
    "LLMReranker",
    "add_answer_counts",
    "auto_noun",
    "item_noun_param",
    "item_texts",
    "ranking_requests",
    "score_titles",
]

#: how a title's log-likelihood is reduced over its tokens in score mode
NORMALISATIONS = ("mean", "sum")
#: raw answers kept in ``predict_info`` for inspection
N_EXAMPLES = 3


def item_noun_param() -> Any:
    """The ``item_noun`` field every re-ranker's ``Params`` has: what the prompt calls the
    items (``auto``: "movie" on MovieLens data, else "item")."""
    return param("auto", check=word_or_auto)


class LLMReranker(Method):
    """Base of the methods that rank candidate lists with the run's frozen LLM."""

    # a prompt cannot list the whole catalogue, so only candidate lists
    task_kinds = frozenset({"candidates"})
    #: the harness gives it the run's LLM (``--backend``/``--llm``) and records which answered
    uses_llm: ClassVar[bool] = True
    gpu_profiles = frozenset({"paper"})

    def __init__(self, profile: str = "cpu", **params: Any) -> None:
        super().__init__(profile, **params)
        self.titles: np.ndarray = np.array([""], dtype=object)
        self.genres: np.ndarray = np.array([""], dtype=object)
        self.noun = "item"
        self.llm: LLMSpec | None = None

    def prepare(self, ctx: FitContext) -> float:
        """Item titles and genres, the item noun (``item_noun`` param, ``auto`` by the data)
        and the run's LLM, loaded now; returns the load's seconds."""
        self.titles, self.genres = item_texts(ctx.dataset)
        noun = self.params["item_noun"]
        self.noun = auto_noun(ctx.dataset.name, ctx.dataset.format) if noun == "auto" else noun
        self.llm = ctx.llm if ctx.llm is not None else LLMSpec(device=str(ctx.device))
        t0 = time.perf_counter()
        self.llm.backend()  # a no-op after the first fit of a run
        return time.perf_counter() - t0

    def score_all(self, users: np.ndarray, histories: list[np.ndarray]) -> torch.Tensor:
        raise NotImplementedError(
            f"{self.name} ranks candidate lists only (task kind 'candidates')")

    def generate_orders(
        self, backend: LLMBackend, prompts: list[str], candidates: np.ndarray,
        info: dict[str, Any] | None = None,
    ) -> list[tuple[list[int], bool]]:
        """Generate mode: per prompt the full order of its candidate row (0-based columns, best
        first; candidates the answer does not rank follow in list order) and whether anything
        could be read from the answer. With ``info``, adds the answer statistics to it."""
        requests = ranking_requests(backend, prompts, candidates, self.titles,
                                    self.params["max_new_tokens"])
        answers = backend.generate(requests)
        parsed = [parse_ranking(answer.text, [self.titles[int(c)] for c in row])
                  for answer, row in zip(answers, candidates)]  # fmt: skip
        n = candidates.shape[1]
        if info is not None:
            add_answer_counts(info, requests, answers, parsed, n, self.params["max_new_tokens"])
        return [(complete_order(result.order, n), result.valid) for result in parsed]

    def generate_rankings(
        self, backend: LLMBackend, prompts: list[str], candidates: np.ndarray,
        info: dict[str, Any],
    ) -> torch.Tensor:
        """Generate mode: scores ``-rank`` in the order parsed from each prompt's answer (no
        ties), the answer statistics added to ``info``."""
        n = candidates.shape[1]
        scores = torch.empty(candidates.shape, dtype=torch.float32)
        for i, (order, _) in enumerate(self.generate_orders(backend, prompts, candidates, info)):
            scores[i, torch.as_tensor(order)] = -torch.arange(n, dtype=torch.float32)
        return scores


def item_texts(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Per item id (row 0 padding) its title (else "item <raw id>") and genres (categories,
    "" when absent)."""
    items = dataset.items
    ids = items["item"].to_numpy()
    titles = np.full(dataset.n_items + 1, "", dtype=object)
    has_title = items["title"].map(lambda t: isinstance(t, str) and bool(t.strip()))
    fallback = "item " + items["raw_id"].astype(str)
    titles[ids] = np.where(has_title, items["title"].astype(str).str.strip(), fallback)
    genres = np.full(dataset.n_items + 1, "", dtype=object)
    cats = items["categories"].map(lambda c: c.strip() if isinstance(c, str) else "")
    genres[ids] = cats.to_numpy()
    return titles, genres


def auto_noun(name: str, fmt: str) -> str:
    """"movie" for MovieLens data, "item" for anything else."""
    text = f"{name} {fmt}".lower()
    return "movie" if any(k in text for k in ("ml-", "movielens", "grouplens")) else "item"


def ranking_requests(
    backend: LLMBackend, prompts: list[str], candidates: np.ndarray, titles: np.ndarray,
    max_new_tokens: int | str,
) -> list[GenerateRequest]:
    """Greedy requests for ranking answers that stop at the end marker, each with its token
    budget: derived from that prompt's candidate list for ``"auto"``, else the fixed number."""
    requests = []
    for prompt, row in zip(prompts, candidates):
        budget = (answer_budget(backend.encode, [str(titles[int(c)]) for c in row])
                  if max_new_tokens == AUTO else int(max_new_tokens))  # fmt: skip
        requests.append(GenerateRequest(prompt, max_new_tokens=budget, stop=STOP))
    return requests


def add_answer_counts(
    info: dict[str, Any], requests: list[GenerateRequest], answers: list[Any],
    parsed: list[Any], n: int, budget_param: int | str,
) -> None:
    """Add one batch of generated rankings (``n`` candidates each), their token budgets and
    how they parsed to the running counts in ``info``."""
    for key in ("answers", "invalid_answers", "duplicates", "out_of_range", "unread_lines",
                "cut_by_max_new_tokens", "new_tokens", "budget_tokens", "max_budget"):
        info.setdefault(key, 0)
    info.setdefault("ranked_fraction_sum", 0.0)
    info.setdefault("parse_rules", {})
    info.setdefault("example_answers", [])
    info["max_new_tokens"] = budget_param
    rules = Counter(info["parse_rules"])
    for request in requests:
        info["budget_tokens"] += request.max_new_tokens
        info["max_budget"] = max(info["max_budget"], request.max_new_tokens)
    for answer, result in zip(answers, parsed):
        info["answers"] += 1
        info["invalid_answers"] += int(not result.valid)
        info["ranked_fraction_sum"] += len(result.order) / n
        info["duplicates"] += result.n_duplicates
        info["out_of_range"] += result.n_out_of_range
        info["unread_lines"] += result.n_unread
        info["cut_by_max_new_tokens"] += int(answer.finish_reason == "length")
        info["new_tokens"] += answer.n_tokens
        rules.update(sorted(result.how) or ["none"])
        if len(info["example_answers"]) < N_EXAMPLES:
            info["example_answers"].append(answer.text)
    info["parse_rules"] = dict(sorted(rules.items()))
    total = max(info["answers"], 1)
    info["invalid_output_rate"] = info["invalid_answers"] / total
    info["mean_fraction_ranked"] = info["ranked_fraction_sum"] / total
    info["mean_new_tokens"] = info["new_tokens"] / total
    info["mean_budget"] = info["budget_tokens"] / total


def score_titles(
    backend: LLMBackend, prompts: list[str], candidates: np.ndarray, titles: np.ndarray,
    normalise: str, info: dict[str, Any] | None = None,
) -> np.ndarray:
    """``[len(prompts), n]``: each candidate title's log-likelihood as the continuation of its
    row's prompt, per token (``normalise="mean"``) or summed (``"sum"``), in one
    ``backend.score`` call (each prompt encoded once, its candidates continuing its cache).
    With ``info``, adds the users and continuation-token counts to it."""
    requests = [ScoreRequest(prompt, tuple(str(titles[int(c)]) for c in row))
                for prompt, row in zip(prompts, candidates)]  # fmt: skip
    results = backend.score(requests)
    mean = normalise == "mean"
    values = np.stack([r.mean_logprobs() if mean else r.logprobs for r in results])
    if info is not None:
        tokens = np.stack([r.n_tokens for r in results])
        for key in ("users", "continuation_tokens", "continuations"):
            info.setdefault(key, 0)
        info["users"] += len(requests)
        info["continuation_tokens"] += int(tokens.sum())
        info["continuations"] += int(tokens.size)
        info["mean_continuation_tokens"] = info["continuation_tokens"] / info["continuations"]
    return values
