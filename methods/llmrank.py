"""LLMRank: a frozen, instruction-tuned LLM ranks each user's candidate list zero-shot.

Hou et al. (ECIR 2024) showed that an LLM given a user's recent history and a candidate list in
one fixed, task-wise prompt ranks the candidates better than chance without any training; it is
the fixed-prompt baseline of RPP (Mao et al. 2024), whose per-user prompts must beat it. This
method is that baseline on the harness's candidate tasks (``rerank``: 1 positive + 19 negatives,
shuffled with the run's seed, a seeded sample of users).

Per user, one chat-formatted prompt lists the titles of the ``history_len`` most recent history
items (oldest first, so the latest is nearest the question, as in LLMRank's sequential prompt)
and the candidates as a numbered list, in the order the harness gives (already shuffled, so the
positive's position carries nothing), and asks for a ranking. Answers are greedy (temperature
0), all users' prompts in one ``backend.generate`` call (the backend batches). The answer is read
by :mod:`methods.llm_parsing`; candidates it does not rank follow in candidate order, and the
score of rank ``r`` is ``-r``, so the harness reproduces the parsed order with no ties.

Parameters:

- ``history_len`` (10): history titles shown. LLMRank found longer histories help little and
  cost prompt length; a 135M model loses track sooner still.
- ``max_new_tokens`` (``auto``): ``auto`` gives each user's answer the tokens a full ranking
  of that user's list needs (:func:`methods.llm_budget.answer_budget`: every candidate as a
  ``[k] title`` line, the most verbose answer the parser reads, plus a margin), so the budget
  grows with the list and a model that writes titles when asked for numbers is not cut; an
  integer fixes it (an answer cut there still counts for what it ranked). Every output format
  ends by asking for ``END``, and generation stops there.
- ``prompt_style``: ``index`` (default) asks for the candidates' numbers, which small models
  copy far more reliably than titles and which cost few tokens; ``title`` asks for the titles,
  one per line (LLMRank's format).
- ``item_noun`` (``auto``): what the items are called in the prompt; ``auto`` says "movie" on
  MovieLens data and "item" elsewhere.

``predict_info`` of each result records the share of answers from which nothing could be read
(``invalid_output_rate``), the mean share of candidates an answer ranked, duplicate and
out-of-range mentions, answers cut by ``max_new_tokens`` (``cut_by_max_new_tokens``; the
leaderboard notes a result with any), the token budgets given and a few raw answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from benchmark.backends.llm import LLMBackend
from methods.base import FitContext
from methods.llm_budget import END_SENTENCE, budget_param
from methods.llm_reranker import NORMALISATIONS, LLMReranker, item_noun_param, score_titles
from methods.params import Params, choice, param, positive_int

PROMPT_STYLES = ("index", "title")


def history_len_param() -> Any:
    """``history_len`` (10): how many recent history titles the prompt shows."""
    return param(10, check=positive_int)


_ANSWER_FORMAT = {
    "index": "Answer with the candidate numbers only, most likely first, separated by commas "
    f"(for example: 4, 17, 1, ...). List every candidate once. {END_SENTENCE}",
    "title": "Answer with the candidate titles only, one per line, most likely first. List "
    f"every candidate once. {END_SENTENCE}",
}


class LLMRank(LLMReranker):
    """Zero-shot LLM ranking of candidate lists with one fixed prompt (see module docstring)."""

    name = "llmrank"
    bibtex = """@inproceedings{hou2024llmrank,
  title     = {Large Language Models are Zero-Shot Rankers for Recommender Systems},
  author    = {Hou, Yupeng and Zhang, Junjie and Lin, Zihan and Lu, Hongyu and Xie, Ruobing and
               McAuley, Julian and Zhao, Wayne Xin},
  booktitle = {Advances in Information Retrieval: 46th European Conference on Information
               Retrieval (ECIR 2024)},
  year      = {2024},
  eprint    = {2305.08845},
  archivePrefix = {arXiv}
}"""

    @dataclass
    class Params(Params):
        """``history_len``, ``max_new_tokens``, ``prompt_style``, ``item_noun`` (module
        docstring); the ``paper`` profile keeps the ``cpu`` values."""

        history_len: int = history_len_param()
        max_new_tokens: int | str = budget_param()
        prompt_style: str = param("index", check=choice(*PROMPT_STYLES))
        item_noun: str = item_noun_param()

    # -- fitting: nothing to learn ---------------------------------------------------------

    def fit(self, ctx: FitContext) -> None:
        """Zero-shot: nothing is learned; look up every item's title and load the run's LLM
        (a no-op after the first fit of a run)."""
        load_seconds = self.prepare(ctx)
        titles = ctx.dataset.items["title"]
        has_title = titles.map(lambda t: isinstance(t, str) and bool(t.strip()))
        self.fit_info = {
            "zero_shot": True,
            "llm_load_seconds": load_seconds,
            "items_with_title": int(has_title.sum()),
            "item_noun": self.noun,
        }

    # -- answering -------------------------------------------------------------------------

    def score_candidates(
        self, users: np.ndarray, histories: list[np.ndarray], candidates: np.ndarray
    ) -> torch.Tensor:
        """Scores ``-rank`` in the order parsed from each user's answer (no ties)."""
        if self.llm is None:
            raise RuntimeError("llmrank: call fit() before scoring")
        backend = self.llm.backend()
        candidates = np.asarray(candidates)
        prompts, chat = [], True
        for history, row in zip(histories, candidates):
            text, used_chat = self.build_prompt(backend, history, row)
            prompts.append(text)
            chat = chat and used_chat
        info = self.predict_info
        if not info:
            info.update(mode="generate", prompt_style=self.params["prompt_style"],
                        chat_template=chat)
        info["chat_template"] = info["chat_template"] and chat
        return self.generate_rankings(backend, prompts, candidates, info)

    def history_lines(self, history: np.ndarray) -> list[str]:
        """The user's ``history_len`` most recent titles, oldest first, under a lead-in."""
        recent = [int(i) for i in history if int(i) > 0][-self.params["history_len"]:]
        noun = self.noun
        lines = [f"I have watched these {noun}s, oldest first:" if noun == "movie"
                 else f"I have interacted with these {noun}s, oldest first:"]  # fmt: skip
        return lines + ([f"- {self.titles[i]}" for i in recent] or ["- (none yet)"])

    def user_message(self, history: np.ndarray, candidates: np.ndarray) -> str:
        """The fixed task-wise prompt for one user (before the chat template)."""
        noun, n = self.noun, len(candidates)
        lines = self.history_lines(history)
        lines += ["", f"Here are {n} candidate {noun}s:"]
        lines += [f"[{k}] {self.titles[int(c)]}" for k, c in enumerate(candidates, start=1)]
        lines += [
            "",
            f"Rank the {n} candidates by how likely I am to choose each one next, given my "
            f"history. {_ANSWER_FORMAT[self.params['prompt_style']]}",
        ]
        return "\n".join(lines)

    def build_prompt(
        self, backend: LLMBackend, history: np.ndarray, candidates: np.ndarray
    ) -> tuple[str, bool]:
        """The prompt as generated from, in the model's chat template when it has one (else a
        plain prompt ending in "Answer:"), and whether the template was used."""
        message = self.user_message(history, candidates)
        try:
            return backend.chat(message), True
        except ValueError:
            return f"{message}\nAnswer:", False


class LLMRankLL(LLMRank):
    """LLMRank's question answered by log-likelihood instead of generation (score mode).

    The prompt lists the user's recent history as ``llmrank`` does and asks which item comes
    next; every candidate's title is then scored as the answer (the backends' ``score``:
    the prompt is encoded once per user and every candidate continues its KV cache on
    transformers, or its prefix cache on vLLM), and candidates rank by that log-likelihood,
    summed or averaged over the title's tokens (``normalise``). Nothing has to be generated or
    parsed, so every candidate is ranked by the model; no answer can be cut.

    Parameters: ``history_len`` (10) and ``item_noun`` as in ``llmrank``; ``normalise``
    (``mean``, default: log-likelihood per token, which does not penalise long titles;
    ``sum``: the title's total log-likelihood).
    """

    name = "llmrank-ll"

    @dataclass
    class Params(Params):
        """``history_len`` and ``item_noun`` as ``llmrank``'s, and ``normalise``."""

        history_len: int = history_len_param()
        normalise: str = param("mean", check=choice(*NORMALISATIONS))
        item_noun: str = item_noun_param()

    def user_message(self, history: np.ndarray, candidates: np.ndarray | None = None) -> str:
        """The question every candidate title answers (the candidates are not listed)."""
        verb = "watch" if self.noun == "movie" else "choose"
        return "\n".join([*self.history_lines(history), "",
                          f"Which {self.noun} will I {verb} next? Answer with its title only."])

    def score_candidates(
        self, users: np.ndarray, histories: list[np.ndarray], candidates: np.ndarray
    ) -> torch.Tensor:
        """Each candidate's title log-likelihood as the answer (see the class docstring)."""
        if self.llm is None:
            raise RuntimeError(f"{self.name}: call fit() before scoring")
        backend = self.llm.backend()
        candidates = np.asarray(candidates)
        prompts, chat = [], True
        for history, row in zip(histories, candidates):
            prompt, used_chat = self.build_prompt(backend, history, row)
            chat = chat and used_chat
            prompts.append(prompt)
        info = self.predict_info
        if not info:
            info.update(mode="score", normalise=self.params["normalise"], chat_template=chat)
        info["chat_template"] = info["chat_template"] and chat
        values = score_titles(backend, prompts, candidates, self.titles,
                              self.params["normalise"], info)
        return torch.as_tensor(values, dtype=torch.float32)

