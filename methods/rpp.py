"""RPP: a prompt personalised per user by reinforcement learning, for a frozen LLM ranker.

RPP (Mao et al. 2024) starts from the premise that one fixed, task-wise prompt (``llmrank``)
cannot suit every user. Rather than search free text per user, it assembles each user's prompt
from four **patterns**, each a choice among a few sentences, and lets one small policy per
pattern pick its sentence from the user's state; a shared critic supplies the baseline
(actor-critic, A2C). The LLM itself stays frozen: only the choice of
sentences is learned, from the ranking quality the LLM achieves with them.

The four patterns (texts in :data:`ROLE_OPTIONS`, :func:`history_options`,
:data:`REASONING_OPTIONS`, :data:`OUTPUT_OPTIONS`; ``{noun}`` is "movie" on MovieLens data):

- **role-playing** (5): who the model is asked to be (sent as the chat's system message);
- **history records** (one per entry of ``history_lengths``, doubled by ``history_genres``):
  how many of the most recent history titles are shown, with or without their genres (the
  normalised datasets carry no ratings, so ratings cannot be shown);
- **reasoning guidance** (7): what to consider (none, genres, recency, similarity, popularity,
  release years, step by step);
- **output format** (5): every one asks for something :mod:`methods.llm_parsing` reads
  (numbers, bracketed numbers, "[n] title" lines, titles, a "Ranking:" line).

How it is trained here (``fit``), and where it departs from the paper:

- **State**: the user's collaborative vector, implicit ALS on the training split only
  (:func:`methods.user_factors.train_user_factors`), unit length times ``sqrt(user_dim)``. The
  paper's state later also holds the current prompt and ranked items over a multi-step episode;
  here an episode is one step (choose four sentences, get a reward), so the state is the CF
  vector alone and the problem is a contextual bandit solved by actor-critic.
- **Policies**: per pattern an MLP (``user_dim -> hidden -> options``, tanh) giving a
  categorical distribution; a critic MLP of the same shape gives ``V(state)``. The output layers
  start at zero, so every policy starts uniform and the critic at 0.
- **Reward**: NDCG@10 of the LLM's ranking of the user's **validation** target among
  ``reward_negatives`` items the user never interacted with in training or validation (seeded,
  shuffled, fixed per user for the whole run; the history shown is the training split). The
  test split is never read.
- **Iterations**: each iteration samples one action per pattern for each of ``train_users``
  users (a seeded subset), sends all their prompts in one ``backend.generate`` call (greedy),
  parses the answers and takes one Adam step on ``-A log pi - entropy_coef H + value_coef
  (V - r)^2`` with ``A = r - V`` summed over the patterns (one agent per pattern, one critic).
  Greedy decoding makes an answer a function of its prompt, so a prompt asked before (the
  same user and choices, or choices that read the same, e.g. 10 or 15 titles of a user with
  8) is answered from the backend's request cache (``benchmark.backends.llm.cache``) instead
  of the LLM: exact, and it saves calls as the policies settle. With ``--llm-cache`` the
  answers outlive the run, so rerunning it asks the LLM nothing it has answered before.

At predict time (candidate tasks, e.g. ``rerank``) each user gets every pattern's most probable
sentence (``predict_sample: true`` samples instead, seeded), the prompt is built with the task's
candidates and history, and the answer is parsed as ``llmrank`` parses it: unranked candidates
follow in candidate order and the score of rank ``r`` is ``-r`` (no ties).

Other parameters: ``reward_negatives`` (19, as ``rerank``), ``user_dim``/``cf_epochs`` (ALS),
``hidden`` (MLP width), ``lr`` (Adam; 0.03 because the policies get only ``iterations``
updates: in the tests' toy world, where one output format earns reward 1 and the others 0.3,
10 updates of 16 users moved that format from 0.20 to 0.33 at 0.01, to 0.64 at 0.02, to 0.99
at 0.05), ``entropy_coef`` (0.01, against collapsing on a few noisy rewards), ``value_coef``,
``max_new_tokens`` (``auto``, as ``llmrank``: each answer gets the tokens a full ranking of
its list needs and stops at ``END``, so the two differ by the prompt only) and ``item_noun``.

Two modes, two registry names. ``rpp`` (above) generates a ranking and parses it. ``rpp-ll``
(:class:`RPPLL`) answers by log-likelihood, as ``llmrank-ll``: the prompt has no candidate list
and no output format (three patterns: role, history, reasoning) and asks which item comes next;
each candidate's title is scored as the answer. In both, the reward is computed in the mode
that is evaluated (:meth:`RPP.rank_lists`), so the policies learn what the table scores.

``fit_info`` records the learning curve (mean reward per iteration), the option texts, the
policies' choice distribution averaged over all users (its entropy, and the mean per-user
entropy), the user-state model, LLM calls and seconds. ``predict_info`` has llmrank's answer
statistics plus a histogram of the sentences chosen.

Sizing the ``cpu`` profile. The cost is the LLM's: one prompt per training user and
iteration (fewer with cache hits) plus one per evaluated user (200 on ``rerank``); the ALS and
policy updates take seconds. Measured on the reference box (2 cores) with SmolLM2-135M-Instruct
in float32 through the ``hf`` backend, on ML-100K prompts of this method (mean 560 tokens, 80
new tokens, the model never stops earlier), while other jobs kept the load average at 4.6-5.5:

- 1 torch thread, one ``generate`` call of 8 prompts: 7.0 CPU-s per prompt (2.1 s of it
  prefill), 10.3 s wall; of 32 prompts (the backend's batch, as in an iteration or the
  evaluation): 10.0 CPU-s per prompt (2.9 prefill), 15.0 s wall. Decoding dominates, and costs
  more per prompt in the larger batch (probably the key/value cache, which transformers'
  ``DynamicCache`` copies by concatenation at every step).
- 2 torch threads under that load: 31 s wall per training prompt and 27 s per evaluated user
  (8 of each), worse than one thread, so the load, not the model, set those wall times.

On an idle 2-core box, one prompt should cost about its single-thread CPU time divided by the
second core's gain, 10 / 1.7 = ~6 s (an estimate; the idle box was not available). The
defaults, ``train_users`` 30 x ``iterations`` 10 = 300 training prompts plus 200 evaluated
users, are 500 prompts: ~50 min at 6 s, within the 60-minute target (58 min at 7 s; 83 min at 10 s,
i.e. if the second core gave nothing); on a box as loaded as the one measured, about 2 h.
Measured since by ``perf/rpp_budget.py`` on an idle 2-core AMD EPYC box (2 torch threads):
479 prompts (21 answered from the cache) in 30.4 min, 3.8 s each.

All of the above was measured with the old fixed budget of 80 new tokens, which cut nearly
every answer. The list-derived budget (``auto``: 326-419 tokens on ML-100K lists) lets
SmolLM2 write 267 tokens per answer on average: ``llmrank``'s 200 users then took 84 min with
one torch thread (``perf/results/rerank_generate_budget/``), so ``rpp`` in generate mode takes
about 3.5 h per seed on 2 CPU cores; run it on a GPU. ``rpp-ll`` (score mode) takes 15-25 min
per seed with one thread.

The ``paper`` profile takes the paper's 15 iterations and its three history-length options
(``history_genres`` off); REFERENCE.md gives no start length, user count or learning rates,
so those stay as in ``cpu``.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from benchmark.backends.llm import LLMBackend
from benchmark.backends.llm.cache import cached
from methods.base import FitContext
from methods.llm_budget import END_SENTENCE, budget_param
from methods.llm_reranker import (
    NORMALISATIONS,
    LLMReranker,
    item_noun_param,
    score_titles,
)
from methods.params import (
    Params,
    choice,
    distinct_positive_ints,
    flag,
    non_negative_number,
    param,
    positive_int,
    positive_number,
)
from methods.user_factors import train_user_factors
from tasks.sampling import sample_candidates

__all__ = [
    "OUTPUT_OPTIONS",
    "PATTERNS",
    "REASONING_OPTIONS",
    "ROLE_OPTIONS",
    "RPP",
    "RPPLL",
    "history_options",
    "ndcg_at",
]

PATTERNS = ("role", "history", "reasoning", "output")
#: the reward: NDCG at this cut-off of the validation target (RPP's reward)
REWARD_K = 10
#: raw answers kept in ``predict_info`` for inspection
N_EXAMPLES = 3

ROLE_OPTIONS = (
    "You are a {noun} recommender system.",
    "You are an expert {noun} critic who knows every genre and suggests what a person will "
    "enjoy next.",
    "You are a helpful assistant that ranks {noun}s for a user.",
    "You are a friend who knows the user's taste in {noun}s very well.",
    "You are a data analyst who predicts a customer's next choice from their past choices.",
)
REASONING_OPTIONS = (
    "",
    "Think about which genres I choose most often and prefer candidates of those genres.",
    "Pay most attention to my most recent {noun}s, since my taste may have changed lately.",
    "Consider which candidates are most similar to the {noun}s I have already chosen.",
    "Well-known, popular {noun}s are usually a safe choice.",
    "Consider the release years of the {noun}s I have chosen.",
    "Think step by step about my preferences before you rank.",
)
OUTPUT_OPTIONS = (
    "Answer with the candidate numbers only, most likely first, separated by commas (for "
    "example: {example}). List every candidate once.",
    "Answer with the candidate numbers in square brackets, most likely first, separated by '>' "
    "(for example: {brackets}).",
    "Answer with one candidate per line, written as its number in square brackets followed by "
    "its title, most likely first.",
    "Answer with the candidate titles only, one per line, most likely first. List every "
    "candidate once.",
    "Start your answer with 'Ranking:' followed by the candidate numbers, most likely first, "
    "separated by commas.",
)


def history_options(lengths: Sequence[int], genres: bool) -> list[tuple[int, bool]]:
    """The history-records actions: ``(how many recent titles, show genres)``, titles only
    first, then (if ``genres``) the same lengths with genres."""
    out = [(int(n), False) for n in lengths]
    return out + [(int(n), True) for n in lengths] if genres else out


def ndcg_at(rank: int, k: int = REWARD_K) -> float:
    """NDCG@k of a single relevant item at 1-based ``rank``: ``1 / log2(rank + 1)`` within the
    cut-off, else 0 (the harness's metric, so the reward is what the benchmark measures)."""
    return 1.0 / math.log2(rank + 1) if rank <= k else 0.0


class _Policies(nn.Module):
    """One actor per pattern and a shared critic, all ``dim -> hidden -> out`` MLPs."""

    def __init__(self, dim: int, hidden: int, sizes: Sequence[int]) -> None:
        super().__init__()
        self.actors = nn.ModuleList(self._mlp(dim, hidden, n) for n in sizes)
        self.critic = self._mlp(dim, hidden, 1)

    @staticmethod
    def _mlp(dim: int, hidden: int, out: int) -> nn.Sequential:
        mlp = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, out))
        last = mlp[2]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)  # uniform policies and a zero baseline to start
        nn.init.zeros_(last.bias)
        return mlp

    def forward(self, states: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Per pattern the logits ``[B, options]``, and the critic's values ``[B]``."""
        return [actor(states) for actor in self.actors], self.critic(states)[:, 0]


class RPP(LLMReranker):
    """Per-user prompts from four RL-chosen sentence patterns (see module docstring)."""

    name = "rpp"
    bibtex = """@article{mao2024rpp,
  title   = {Reinforced Prompt Personalization for Recommendation with Large Language Models},
  author  = {Mao, Wenyu and Wu, Jiancan and Chen, Weijian and Gao, Chongming and Wang, Xiang
             and He, Xiangnan},
  journal = {arXiv preprint arXiv:2407.17115},
  year    = {2024},
  eprint  = {2407.17115},
  archivePrefix = {arXiv}
}"""

    @dataclass
    class Params(Params):
        """The parameters of the module docstring; ``paper`` takes the paper's 15 iterations
        and its three history lengths without genres."""

        iterations: int = param(10, paper=15, check=positive_int)
        train_users: int = param(30, check=positive_int)
        reward_negatives: int = param(19, check=positive_int)
        history_lengths: list[int] = param([5, 10, 15], check=distinct_positive_ints)
        history_genres: bool = param(True, paper=False, check=flag)
        user_dim: int = param(32, check=positive_int)
        cf_epochs: int = param(10, check=positive_int)
        hidden: int = param(64, check=positive_int)
        lr: float = param(0.03, check=positive_number)
        entropy_coef: float = param(0.01, check=non_negative_number)
        value_coef: float = param(0.5, check=non_negative_number)
        max_new_tokens: int | str = budget_param()
        predict_sample: bool = param(False, check=flag)
        item_noun: str = item_noun_param()

    #: the prompt patterns the policies choose, in action order
    patterns: ClassVar[tuple[str, ...]] = PATTERNS

    def __init__(self, profile: str = "cpu", **params: Any) -> None:
        super().__init__(profile, **params)
        p = self.params
        lengths = p["history_lengths"]
        self.history_actions = history_options(lengths, p["history_genres"])
        n_options = {"role": len(ROLE_OPTIONS), "history": len(self.history_actions),
                     "reasoning": len(REASONING_OPTIONS), "output": len(OUTPUT_OPTIONS)}
        self.sizes = tuple(n_options[k] for k in self.patterns)
        self.policies: _Policies | None = None
        self.user_states = torch.zeros(0, p["user_dim"])
        self._sampler = torch.Generator()

    # -- prompts ---------------------------------------------------------------------------

    def option_texts(self) -> dict[str, list[str]]:
        """The sentences (history: a description) of every pattern, for the record."""
        noun = self.noun
        history = [
            f"{n} most recent {noun} titles" + (" with genres" if g else "")
            for n, g in self.history_actions
        ]
        texts = {
            "role": [t.format(noun=noun) for t in ROLE_OPTIONS],
            "history": history,
            "reasoning": [t.format(noun=noun) or "(none)" for t in REASONING_OPTIONS],
            "output": [_output_sentence(k, 20) for k in range(len(OUTPUT_OPTIONS))],
        }
        return {k: texts[k] for k in self.patterns}

    def user_message(
        self, history: np.ndarray, candidates: np.ndarray, actions: Sequence[int]
    ) -> str:
        """The user turn for one user under ``actions`` (role, history, reasoning, output);
        the role sentence goes separately as the system message (:meth:`build_prompt`)."""
        _, hist, reason, out = (int(a) for a in actions)
        noun, n = self.noun, len(candidates)
        lines = self.history_lines(history, hist)
        lines += ["", f"Here are {n} candidate {noun}s:"]
        lines += [f"[{k}] {self.titles[int(c)]}" for k, c in enumerate(candidates, start=1)]
        guidance = REASONING_OPTIONS[reason].format(noun=noun)
        ask = (f"Rank the {n} candidates by how likely I am to choose each one next, given my "
               f"history.")  # fmt: skip
        lines += ["", " ".join(s for s in (guidance, ask, _output_sentence(out, n)) if s)]
        return "\n".join(lines)

    def history_lines(self, history: np.ndarray, hist_action: int) -> list[str]:
        """The history-records pattern's lines under option ``hist_action``."""
        length, with_genres = self.history_actions[hist_action]
        noun = self.noun
        recent = [int(i) for i in history if int(i) > 0][-length:]
        verb = "watched" if noun == "movie" else "interacted with"
        extra = " (with their genres)" if with_genres else ""
        lines = [f"I have {verb} these {noun}s{extra}, oldest first:"]
        for i in recent:
            genre = self.genres[i] if with_genres else ""
            lines.append(f"- {self.titles[i]}" + (f" | {genre}" if genre else ""))
        return lines if recent else [*lines, "- (none yet)"]

    def build_prompt(
        self, backend: LLMBackend, history: np.ndarray, candidates: np.ndarray,
        actions: Sequence[int],
    ) -> tuple[str, bool]:
        """The prompt as generated from: the role sentence as system message and the rest as
        the user turn in the model's chat template; without a template, a plain prompt (role,
        message, "Answer:"). Also whether the template was used."""
        role = ROLE_OPTIONS[int(actions[0])].format(noun=self.noun)
        message = self.user_message(history, candidates, actions)
        try:
            return backend.chat(message, system=role), True
        except ValueError:
            return f"{role}\n\n{message}\nAnswer:", False

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, ctx: FitContext) -> None:
        """Learn the per-pattern policies from validation rewards (module docstring). Reads
        ``ctx.split.train``, ``.valid``, ``.users`` and ``.n_items``, never ``.test``."""
        t_fit = time.perf_counter()
        p = self.params
        split = ctx.split
        load_seconds = self.prepare(ctx)  # the LLM loads once per run, outside the timed calls
        assert self.llm is not None
        # repeated prompts are answered once: the run's backend caches already (a file with
        # --llm-cache makes reruns free too); a backend given directly is wrapped here
        backend = cached(self.llm.backend())

        users = np.asarray(split.users, dtype=np.int64)
        vectors = train_user_factors(split.train, users, ctx.dataset.n_users, split.n_items,
                                     dim=p["user_dim"], epochs=p["cf_epochs"], seed=ctx.seed)
        norm = vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)
        self.user_states = vectors / norm * math.sqrt(p["user_dim"])

        # the reward's lists: validation target + negatives outside train + valid (no test)
        rng = np.random.default_rng([ctx.seed, 0x5A1])
        n_train = min(p["train_users"], len(users))
        picked = np.sort(rng.choice(len(users), size=n_train, replace=False))
        train_items = [np.asarray(split.train[k], dtype=np.int64) for k in picked]
        valid = np.asarray(split.valid, dtype=np.int64)[picked]
        seen = [np.append(t, v) for t, v in zip(train_items, valid)]
        cands, target_col = sample_candidates(seen, valid, split.n_items, p["reward_negatives"],
                                              seed=ctx.seed, task_name="rpp/reward")
        states = self.user_states[torch.as_tensor(users[picked])]

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(ctx.seed)
            self.policies = _Policies(p["user_dim"], p["hidden"], self.sizes)
        optimiser = torch.optim.Adam(self.policies.parameters(), lr=p["lr"])
        sampler = torch.Generator().manual_seed(ctx.seed)
        curve: list[float] = []
        stats = Counter(llm_calls=0, invalid_answers=0)
        start = backend.counts()
        llm_seconds = 0.0
        steps = range(p["iterations"])
        bar = tqdm(steps, desc="rpp iterations", leave=False, disable=not ctx.show_progress)
        for _ in bar:
            with torch.no_grad():
                logits, _ = self.policies(states)
            actions = torch.stack(
                [torch.multinomial(torch.softmax(lg, -1), 1, generator=sampler)[:, 0]
                 for lg in logits], dim=1,
            )  # fmt: skip  [users, patterns]
            prompts = [self.build_prompt(backend, train_items[r], cands[r], actions[r].tolist())[0]
                       for r in range(n_train)]  # fmt: skip
            misses = backend.misses
            t0 = time.perf_counter()
            answered = self.rank_lists(backend, prompts, cands)
            llm_seconds += time.perf_counter() - t0
            stats["llm_calls"] += backend.misses > misses
            rewards = torch.empty(n_train)
            for r, (order, valid) in enumerate(answered):
                stats["invalid_answers"] += int(not valid)
                rewards[r] = ndcg_at(order.index(int(target_col[r])) + 1)
            curve.append(float(rewards.mean()))
            self._update(optimiser, states, actions, rewards)
            bar.set_postfix(reward=f"{curve[-1]:.3f}")
        self._sampler = torch.Generator().manual_seed(ctx.seed + 1)
        self.fit_info = {
            "iterations": p["iterations"],
            "train_users": n_train,
            "reward": f"NDCG@{REWARD_K} of the validation target among "
            f"{p['reward_negatives']} negatives outside train + valid",
            "reward_curve": curve,
            "options": self.option_texts(),
            **self._distribution_summary(users),
            "user_representation": (
                f"implicit ALS MF (Hu et al. 2008), dim {p['user_dim']}, {p['cf_epochs']} "
                "epochs, training split only; fixed"
            ),
            "llm_calls": stats["llm_calls"],
            "llm_prompts": backend.misses - start["misses"],
            "cached_answers": backend.hits - start["hits"],
            "train_invalid_output_rate": stats["invalid_answers"] / max(1, n_train * len(curve)),
            "llm_seconds": llm_seconds,
            "llm_load_seconds": load_seconds,
            "fit_seconds": time.perf_counter() - t_fit,
            "item_noun": self.noun,
        }

    def rank_lists(
        self, backend: LLMBackend, prompts: list[str], candidates: np.ndarray
    ) -> list[tuple[list[int], bool]]:
        """Per prompt the LLM's full order of its candidate row (0-based columns, best first)
        and whether the answer could be read: generated greedily with the list's token budget,
        parsed, unranked candidates last. This is the mode the reward is computed in, so it is
        the mode :meth:`score_candidates` evaluates."""
        return self.generate_orders(backend, prompts, candidates)

    def _update(
        self, optimiser: torch.optim.Optimizer, states: torch.Tensor, actions: torch.Tensor,
        rewards: torch.Tensor,
    ) -> None:
        """One A2C step: each pattern's actor follows the shared advantage, plus an entropy
        bonus; the critic regresses the reward."""
        assert self.policies is not None
        p = self.params
        logits, values = self.policies(states)
        advantage = rewards - values.detach()
        actor = states.new_zeros(())
        entropy = states.new_zeros(())
        for k, lg in enumerate(logits):
            logp = torch.log_softmax(lg, -1)
            actor = actor - (advantage * logp.gather(1, actions[:, k : k + 1])[:, 0]).mean()
            entropy = entropy - (logp.exp() * logp).sum(-1).mean()
        critic = torch.mean((values - rewards) ** 2)
        loss = actor - p["entropy_coef"] * entropy + p["value_coef"] * critic
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    def choice_probabilities(self, users: np.ndarray) -> list[torch.Tensor]:
        """Per pattern the policies' distributions ``[len(users), options]`` for ``users``
        (dataset user indices)."""
        if self.policies is None:
            raise RuntimeError("rpp: call fit() before asking the policies")
        with torch.no_grad():
            logits, _ = self.policies(self.user_states[torch.as_tensor(users, dtype=torch.long)])
        return [torch.softmax(lg, -1) for lg in logits]

    def _distribution_summary(self, users: np.ndarray) -> dict[str, Any]:
        """The choice distribution averaged over ``users``, its entropy (nats), the mean
        per-user entropy and the greedy choices' histogram, per pattern."""
        probs = self.choice_probabilities(users)
        mean = {k: pr.mean(0) for k, pr in zip(self.patterns, probs)}
        return {
            "choice_distribution": {k: [round(float(x), 6) for x in m] for k, m in mean.items()},
            "choice_entropy": {k: _entropy(m) for k, m in mean.items()},
            "mean_user_entropy": {
                k: float(-(pr * pr.clamp_min(1e-12).log()).sum(-1).mean())
                for k, pr in zip(self.patterns, probs)
            },
            "max_entropy": {k: math.log(n) for k, n in zip(self.patterns, self.sizes)},
            "greedy_choices": {
                k: np.bincount(pr.argmax(-1).numpy(), minlength=pr.shape[1]).tolist()
                for k, pr in zip(self.patterns, probs)
            },
        }

    # -- answering -------------------------------------------------------------------------

    def choose(self, users: np.ndarray) -> torch.Tensor:
        """Actions ``[len(users), 4]``: each pattern's most probable option, or a seeded
        sample with ``predict_sample``."""
        probs = self.choice_probabilities(users)
        if self.params["predict_sample"]:
            picks = [torch.multinomial(pr, 1, generator=self._sampler)[:, 0] for pr in probs]
        else:
            picks = [pr.argmax(-1) for pr in probs]
        return torch.stack(picks, dim=1)

    def score_candidates(
        self, users: np.ndarray, histories: list[np.ndarray], candidates: np.ndarray
    ) -> torch.Tensor:
        """Each user's prompt under the chosen options, answered in this method's mode."""
        if self.llm is None or self.policies is None:
            raise RuntimeError(f"{self.name}: call fit() before scoring")
        backend = self.llm.backend()
        candidates = np.asarray(candidates)
        actions = self.choose(np.asarray(users))
        prompts, chat = [], True
        for history, row, act in zip(histories, candidates, actions):
            text, used_chat = self.build_prompt(backend, history, row, act.tolist())
            prompts.append(text)
            chat = chat and used_chat
        info = self.predict_info
        if not info:
            info.update(self._mode_info(), chat_template=chat,
                        choice="sample" if self.params["predict_sample"] else "greedy",
                        chosen_options={k: [0] * s for k, s in zip(self.patterns, self.sizes)})
        info["chat_template"] = info["chat_template"] and chat
        for k, pattern in enumerate(self.patterns):
            for a in actions[:, k].tolist():
                info["chosen_options"][pattern][a] += 1
        return self.answer(backend, prompts, candidates, info)

    def _mode_info(self) -> dict[str, Any]:
        """What ``predict_info`` says about the answering mode."""
        return {"mode": "generate"}

    def answer(
        self, backend: LLMBackend, prompts: list[str], candidates: np.ndarray,
        info: dict[str, Any],
    ) -> torch.Tensor:
        """Generate mode: the parsed ranking, as llmrank reads it."""
        return self.generate_rankings(backend, prompts, candidates, info)


class RPPLL(RPP):
    """RPP in score mode: the policies choose the role, history and reasoning sentences, and
    the LLM ranks the candidates by each title's log-likelihood as the answer (``llmrank-ll``'s
    scoring) instead of generating a ranking.

    The candidates are not listed in the prompt and nothing is generated, so there is no
    output-format pattern; the user turn is the history records, the reasoning sentence and
    "Which movie will I watch next? Answer with its title only." (``llmrank-ll``'s question),
    with the role as system message. The reward is computed the same way (NDCG@10 of the
    validation target, ranked by log-likelihood among the reward negatives), so the policies
    learn what the evaluation scores. ``normalise`` as in ``llmrank-ll``; no
    ``max_new_tokens``. Everything else (state, policies, A2C, cache, parameters) is
    ``rpp``'s.
    """

    name = "rpp-ll"

    @dataclass
    class Params(RPP.Params):
        """``rpp``'s parameters without ``max_new_tokens``, with ``normalise``."""

        omit = ("max_new_tokens",)
        normalise: str = param("mean", check=choice(*NORMALISATIONS))

    patterns = ("role", "history", "reasoning")

    def user_message(
        self, history: np.ndarray, candidates: np.ndarray, actions: Sequence[int]
    ) -> str:
        """The user turn under ``actions`` (role, history, reasoning): the question every
        candidate title answers."""
        _, hist, reason = (int(a) for a in actions)
        verb = "watch" if self.noun == "movie" else "choose"
        guidance = REASONING_OPTIONS[reason].format(noun=self.noun)
        ask = f"Which {self.noun} will I {verb} next? Answer with its title only."
        return "\n".join([*self.history_lines(history, hist), "",
                          " ".join(s for s in (guidance, ask) if s)])

    def rank_lists(
        self, backend: LLMBackend, prompts: list[str], candidates: np.ndarray
    ) -> list[tuple[list[int], bool]]:
        """Per prompt its candidates ordered by title log-likelihood (stable: equal scores
        keep list order); always readable."""
        values = score_titles(backend, prompts, candidates, self.titles,
                              self.params["normalise"])
        return [(np.argsort(-v, kind="stable").tolist(), True) for v in values]

    def _mode_info(self) -> dict[str, Any]:
        return {"mode": "score", "normalise": self.params["normalise"]}

    def answer(
        self, backend: LLMBackend, prompts: list[str], candidates: np.ndarray,
        info: dict[str, Any],
    ) -> torch.Tensor:
        """Score mode: each candidate's title log-likelihood."""
        values = score_titles(backend, prompts, candidates, self.titles,
                              self.params["normalise"], info)
        return torch.as_tensor(values, dtype=torch.float32)


def _output_sentence(k: int, n: int) -> str:
    """Output-format option ``k`` with examples that fit a list of ``n`` candidates."""
    numbers = [x for x in (4, 17, 1) if x <= n] or [1]
    example = ", ".join(map(str, numbers)) + ", ..."
    brackets = " > ".join(f"[{x}]" for x in numbers) + " > ..."
    return f"{OUTPUT_OPTIONS[k].format(example=example, brackets=brackets)} {END_SENTENCE}"


def _entropy(probs: torch.Tensor) -> float:
    """Entropy in nats of one distribution."""
    return float(-(probs * probs.clamp_min(1e-12).log()).sum())

