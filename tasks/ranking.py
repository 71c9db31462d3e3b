"""The ranking task kind (``RankingTask``): how it asks a method, how it scores the target ranks
and how it describes its protocol; and its tasks: sequential (full ranking), top-N (1 + 99) and
re-ranking (1 + 19)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from benchmark.errors import ConfigError, ResultsError
from benchmark.metrics import (
    DEFAULT_METRICS,
    metric_vectors,
    parse_metric,
    rank_full_catalogue,
    target_ranks,
)
from benchmark.preflight import check_candidates, check_user_sample
from tasks.base import (
    BoardFacts,
    EvalContext,
    EvalRequests,
    Evaluation,
    ResultKind,
    check_eval_users,
    check_prompt,
    describe_prompt,
    parse_variant,
    span_text,
    split_protocol,
    variant_name,
)
from tasks.leak import leak_audit
from tasks.published import (
    PUBLISHED_RULE,
    PublishedLists,
    check_suffix,
    load_published,
    published_candidates,
    published_protocol,
)
from tasks.quirks import data_quirks, describe_quirks
from tasks.sampling import (
    USER_SAMPLE_RULE,
    USER_SAMPLE_SEED,
    load_or_create,
    load_or_sample,
    load_or_sample_users,
    sample_candidates,
    sample_users,
)
from tasks.split import SPLIT_RULE, Split

if TYPE_CHECKING:
    from benchmark.data.schema import Dataset
    from benchmark.results import Result
    from methods.base import Method

#: how a target's rank treats items scored equal to it, as recorded in every ranking result
TIE_RULE = "pessimistic: the target ranks below every item with an equal score"
#: the same, as a leaderboard states it
METRIC_TIE_RULE = f"{TIE_RULE}, so a constant scorer scores 0"
#: how a candidate task's lists are drawn, as recorded in its results (``n``: negatives)
CANDIDATES_RULE = (
    "1 held-out positive + {n} items the user never interacted with, sampled and shuffled with "
    "the run's seed"
)


@dataclass(frozen=True)
class RankingTask:
    """A ranking task over the leave-one-out split.

    ``kind="full"`` ranks the target among all items (optionally masking the user's history);
    ``kind="candidates"`` ranks it among ``n_negatives`` sampled items the user never
    interacted with, in an order shuffled with the run's seed and persisted with the results.
    ``eval_users`` evaluates a seeded sample of that many users instead of all of them, for
    methods too slow to answer every user (an LLM generating a ranking per user).
    ``candidates`` ranks the lists published beside the dataset (``tasks.published``) instead
    of sampled ones, for the users they list.
    """

    name: str
    description: str
    kind: Literal["full", "candidates"]
    metrics: tuple[str, ...] = DEFAULT_METRICS
    n_negatives: int = 0
    mask_history: bool = True
    #: which prompt wording prompt-based methods are evaluated with (see ``PROMPTS``)
    prompt: str = "seen"
    #: evaluate a seeded sample of this many users (the same for every method); None = all
    eval_users: int | None = None
    #: suffix of a published candidate file beside the dataset (``random`` for LLMRank's
    #: ``Games-6k.random``); None = sampled candidates
    candidates: str | None = None

    @property
    def n_candidates(self) -> int | None:
        return self.n_negatives + 1 if self.kind == "candidates" else None

    @property
    def needs_reviews(self) -> bool:
        """Ranking tasks need interactions only."""
        return False

    def check_data(self, dataset: Dataset) -> None:
        """A candidate task needs ``n_negatives`` items every user never interacted with."""
        if self.kind != "candidates":
            return
        if self.candidates is not None:  # read now, so a bad file fails before any fit
            load_published(dataset, self.candidates)
            return
        most = max((len(np.unique(s)) for s in dataset.sequences()), default=0)
        if dataset.n_items - most < self.n_negatives:
            fit = max(1, dataset.n_items - most)
            raise ConfigError(
                f"task {self.name!r} needs {self.n_negatives} items each user never "
                f"interacted with, but dataset {dataset.name!r} has {dataset.n_items} items and "
                f"a user with {most}; use fewer, e.g. in the YAML config "
                f"task_options: {{{self.name}: {{n_negatives: {fit}}}}}"
            )

    def check_samples(
        self, task_dir: Path, *, seed: int, dataset: Dataset, users: np.ndarray,
        results_dir: Path,
    ) -> None:
        """The stored candidate lists of ``seed`` and the stored user sample, where they exist
        (``users``: the split's users, which both were drawn for)."""
        cand_path = task_dir / f"candidates-seed{seed}.npz"
        lists_hash = dataset.content_hash
        if self.candidates is not None:
            published = load_published(dataset, self.candidates)
            users = published.users  # every listed user must be in the split (else an error)
            lists_hash = published.lists_hash(dataset.content_hash)
        if self.kind == "candidates" and cand_path.exists():
            check_candidates(
                cand_path, content_hash=lists_hash, users=users,
                n_candidates=self.n_negatives + 1, results_dir=results_dir,
            )
        sampled = self.eval_users is not None and self.eval_users < len(users)
        if sampled and (task_dir / "users.npz").exists():
            check_user_sample(
                task_dir / "users.npz", content_hash=dataset.content_hash, population=users,
                requested=int(self.eval_users), results_dir=results_dir,
            )

    def with_options(self, options: dict[str, Any]) -> RankingTask:
        """A variant with some fields changed, named after the change so its results and
        leaderboard stay apart: ``sequential`` + ``{mask_history: false}`` gives
        ``sequential+mask_history=false``."""
        if not options:
            return self
        settable = {
            "metrics", "n_negatives", "mask_history", "prompt", "eval_users", "candidates",
        }
        unknown = sorted(set(options) - settable)
        if unknown:
            raise ConfigError(
                f"task_options.{self.name}: unknown option(s) {unknown}; settable: "
                f"{sorted(settable)}"
            )
        values = dict(options)
        if "metrics" in values:
            try:
                values["metrics"] = tuple(str(m).lower() for m in values["metrics"])
                for m in values["metrics"]:
                    parse_metric(m)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"task_options.{self.name}.metrics: {exc}") from exc
        check_prompt(self.name, values)
        if "mask_history" in values and not isinstance(values["mask_history"], bool):
            raise ConfigError(f"task_options.{self.name}.mask_history: expected true or false")
        if "n_negatives" in values:
            n = values["n_negatives"]
            if self.kind != "candidates" or not isinstance(n, int) or n < 1:
                raise ConfigError(
                    f"task_options.{self.name}.n_negatives: a positive integer, for candidate "
                    "tasks only"
                )
        if "candidates" in values:
            if self.kind != "candidates":
                raise ConfigError(
                    f"task_options.{self.name}.candidates: for candidate tasks only (rerank, "
                    "topn)"
                )
            check_suffix(self.name, values["candidates"])
        named = dict(values)
        if "eval_users" in values:
            values["eval_users"] = check_eval_users(self.name, values["eval_users"])
            named["eval_users"] = values["eval_users"] or "all"  # 0 and "all" name alike
        if "candidates" in values:  # not part of the name
            values["description"] = (
                f"held-out positive among {values.get('n_negatives', self.n_negatives)} items "
                f"of the published candidate lists <dataset>.{values['candidates']}, shuffled"
            )
        return dataclasses.replace(self, name=variant_name(self.name, named), **values)

    def describe(self) -> dict:
        """The task as stored in every result record (and hashed into its config hash)."""
        out = describe_prompt(asdict(self))
        if out.get("eval_users") is None:
            # omitted when unset, so results written before the option existed keep their hashes
            out.pop("eval_users", None)
        if out.get("candidates") is None:
            out.pop("candidates", None)  # likewise
        out["metrics"] = list(self.metrics)
        out["n_candidates"] = self.n_candidates
        return out

    def evaluate(self, method: Method, ctx: EvalContext) -> Evaluation:
        """Ask ``method`` to rank the test targets (all items, or the task's persisted
        candidate lists) and score the target ranks."""
        cand_path = ctx.task_dir / f"candidates-seed{ctx.seed}.npz"
        users_path = ctx.task_dir / "users.npz"  # one sample for every seed
        published = None
        if self.candidates is not None:
            published = load_published(ctx.dataset, self.candidates)
        requests = build_requests(
            self, ctx.split, stage="test", seed=ctx.seed, candidates_path=cand_path,
            content_hash=ctx.dataset.content_hash, users_path=users_path, published=published,
        )
        ranks = rank_requests(
            method, self, requests, batch_size=ctx.batch_size, progress=ctx.progress
        )
        vectors = metric_vectors(ranks, self.metrics)
        in_history = int(
            sum(int(t) in set(h.tolist()) for h, t in zip(requests.histories, requests.targets))
        )
        population = ctx.split.n_users if published is None else len(published.users)
        protocol = {
            # a pre-split dataset's own split (its loader says how it maps onto this one)
            "split": ctx.dataset.meta.get("split", SPLIT_RULE),
            "tie_rule": TIE_RULE,
            "targets_in_history": in_history,
            "candidates": self._candidates_rule(published),
            **user_sample_protocol(self, population, len(requests)),
        }
        if published is not None:
            assert requests.candidates is not None and requests.target_col is not None
            if "user_sample" in protocol:
                protocol["user_sample"]["population_from"] = published.path.name
            protocol["published_candidates"] = published_protocol(
                published, ctx.split, requests.users, requests.candidates, requests.target_col
            )
        fields = {
            "candidates_file": _file_record(cand_path, ctx.results_dir)
            if self.kind == "candidates" else None,
            # only for a task evaluated on a sample (a file exists when it is not everyone)
            **({"users_file": _file_record(users_path, ctx.results_dir)}
               if len(requests) < population else {}),
        }
        per_user = {"users": requests.users, "rank": ranks, **vectors}
        metrics = {m: float(np.mean(per_user[m])) for m in self.metrics}
        return Evaluation(per_user=per_user, metrics=metrics, protocol=protocol, fields=fields)

    def _candidates_rule(self, published: PublishedLists | None) -> str | None:
        if self.kind != "candidates":
            return None
        if published is not None:
            return PUBLISHED_RULE.format(file=published.path.name, n=self.n_negatives)
        return CANDIDATES_RULE.format(n=self.n_negatives)

    def protocol(self, ctx: EvalContext, evaluation: Evaluation) -> dict[str, Any]:
        """The record's protocol: the split, what ``evaluate`` measured, the leak audit of the
        ids and the data's quirks (neither depends on the method, so neither is timed)."""
        return {
            **split_protocol(ctx),
            **evaluation.protocol,
            "leak_audit": leak_audit(ctx.split),
            "data_quirks": data_quirks(
                ctx.dataset, targets_in_history=evaluation.protocol["targets_in_history"],
                n_evaluated=evaluation.n,
            ),
        }


SEQUENTIAL = RankingTask(
    name="sequential",
    description="next item among all items; the user's history items are masked",
    kind="full",
    mask_history=True,
)
TOPN = RankingTask(
    name="topn",
    description="held-out positive among 99 sampled items the user never interacted with",
    kind="candidates",
    n_negatives=99,
    metrics=("hr@1", "hr@5", "hr@10", "ndcg@5", "ndcg@10", "mrr@10"),
)
RERANK = RankingTask(
    name="rerank",
    description="held-out positive among 19 sampled items the user never interacted with, "
    "shuffled",
    kind="candidates",
    n_negatives=19,
    metrics=("hr@1", "hr@5", "ndcg@1", "ndcg@5", "ndcg@10"),
    eval_users=200,  # RPP evaluated 200 users; an LLM generating per user is slow
)


def build_requests(
    task: RankingTask,
    split: Split,
    *,
    stage: str = "test",
    seed: int = 0,
    candidates_path: Path | None = None,
    content_hash: str = "",
    users_path: Path | None = None,
    published: PublishedLists | None = None,
) -> EvalRequests:
    """Requests for ``stage`` ("valid" or "test") of ``split`` under ``task``.

    Candidate tasks persist their sample at ``candidates_path`` (when given) so later runs and
    other methods rank exactly the same lists. A task with ``eval_users`` keeps only a sample of
    users, the same for every seed (``USER_SAMPLE_SEED``) so that results of all seeds pair up
    user by user, persisted at ``users_path`` (when given and the sample is not everyone);
    candidates are drawn for every user first, so a user's list does not depend on the sample.
    ``published`` lists (test stage only) replace the sampled ones and keep only their users.
    """
    if published is not None:
        requests = _published_requests(task, split, stage, seed, candidates_path,
                                       content_hash, published)  # fmt: skip
    else:
        requests = _all_requests(task, split, stage, seed, candidates_path, content_hash)
    if task.eval_users is None or task.eval_users >= len(requests):
        return requests
    if users_path is not None:
        sample = load_or_sample_users(
            users_path, content_hash=content_hash, users=requests.users, n=task.eval_users,
            seed=USER_SAMPLE_SEED,
        )
    else:
        sample = sample_users(requests.users, task.eval_users, seed=USER_SAMPLE_SEED)
    return subset_requests(requests, np.isin(requests.users, sample))


def candidate_key(task_name: str) -> str:
    """What seeds a task's candidate lists: its base name plus the options that change them.

    Options that change only how a method is asked (``prompt``) or who is evaluated
    (``eval_users``) keep the base task's lists, so ``topn+prompt=unseen`` ranks exactly the
    lists of ``topn`` and the two can be compared user by user; ``n_negatives`` defines
    other lists, and so do ``candidates`` files."""
    base, options = parse_variant(task_name)
    changing = ("n_negatives", "candidates")
    return variant_name(base, {k: v for k, v in options.items() if k in changing})


def subset_requests(requests: EvalRequests, keep: np.ndarray) -> EvalRequests:
    """The requests of the users where ``keep`` (a boolean mask over them) is true."""
    rows = np.flatnonzero(keep)
    return EvalRequests(
        users=requests.users[rows],
        histories=[requests.histories[i] for i in rows],
        targets=requests.targets[rows],
        candidates=None if requests.candidates is None else requests.candidates[rows],
        target_col=None if requests.target_col is None else requests.target_col[rows],
    )


def _all_requests(
    task: RankingTask,
    split: Split,
    stage: str,
    seed: int,
    candidates_path: Path | None,
    content_hash: str,
) -> EvalRequests:
    histories = split.histories(stage)
    targets = split.targets(stage)
    if task.kind == "full":
        return EvalRequests(users=split.users, histories=histories, targets=targets)
    everything = [np.append(t, [v, x]) for t, v, x in zip(split.train, split.valid, split.test)]
    key = candidate_key(task.name)
    name = key if stage == "test" else f"{key}/{stage}"
    if candidates_path is not None:
        cands, col = load_or_sample(
            candidates_path,
            content_hash=content_hash,
            users=split.users,
            sequences=everything,
            targets=targets,
            n_items=split.n_items,
            n_negatives=task.n_negatives,
            seed=seed,
            task_name=name,
        )
    else:
        cands, col = sample_candidates(
            everything, targets, split.n_items, task.n_negatives, seed=seed, task_name=name
        )
    return EvalRequests(
        users=split.users, histories=histories, targets=targets, candidates=cands, target_col=col
    )


def _published_requests(
    task: RankingTask,
    split: Split,
    stage: str,
    seed: int,
    candidates_path: Path | None,
    content_hash: str,
    published: PublishedLists,
) -> EvalRequests:
    """Requests of the users a published candidate file lists, in split order."""
    if stage != "test":
        raise ValueError("published candidate lists are for the test stage only")
    users = published.users  # ``published_candidates`` refuses a user the split lacks

    def create() -> tuple[np.ndarray, np.ndarray]:
        return published_candidates(
            published, split, task.n_negatives, seed=seed, task_name=candidate_key(task.name)
        )

    if candidates_path is not None:
        cands, col = load_or_create(
            candidates_path, content_hash=published.lists_hash(content_hash), users=users,
            create=create,
        )
    else:
        cands, col = create()
    rows = np.searchsorted(split.users, users)
    histories = split.histories(stage)
    return EvalRequests(
        users=users, histories=[histories[i] for i in rows], targets=split.test[rows],
        candidates=cands, target_col=col,
    )


def rank_requests(
    method: Method, task: RankingTask, req: EvalRequests, *, batch_size: int,
    progress: bool = False,
) -> np.ndarray:
    """The target's rank for every request (1 = first), in batches of ``batch_size`` users:
    among all items through ``Method.score_all`` (history masked when the task says so), or
    among the request's candidates through ``Method.score_candidates``."""
    bar = tqdm(
        total=len(req), desc=f"predict {task.name}", leave=False, unit="user",
        disable=not progress,
    )
    try:
        if task.kind == "full":
            return rank_full_catalogue(
                method.score_all, req.users, req.histories, req.targets,
                mask_history=task.mask_history, batch_size=batch_size, progress=bar.update,
            )
        assert req.candidates is not None and req.target_col is not None
        out = np.empty(len(req), dtype=np.int64)
        for start in range(0, len(req), batch_size):
            sl = slice(start, start + batch_size)
            scores = method.score_candidates(
                req.users[sl], req.histories[sl], req.candidates[sl]
            ).to(torch.float32)
            col = torch.as_tensor(req.target_col[sl], dtype=torch.long)
            out[sl] = target_ranks(scores, col).cpu().numpy()
            bar.update(len(req.users[sl]))
        return out
    finally:
        bar.close()


def user_sample_protocol(
    task: RankingTask, population: int, n_evaluated: int
) -> dict[str, Any]:
    """The protocol's record of a task's user sample among ``population`` users (the split's,
    or a published candidate file's) (nothing for tasks without one)."""
    if task.eval_users is None:
        return {}
    return {
        "user_sample": {
            "requested": task.eval_users,
            "evaluated": n_evaluated,
            "population": population,
            "rule": USER_SAMPLE_RULE if n_evaluated < population
            else "every user (no more than requested)",
        }
    }


def _file_record(path: Path, results_dir: Path) -> dict[str, str]:
    """A shared file as a record names it: where under the results and its sha256."""
    return {
        "path": str(path.relative_to(results_dir)),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


# ---- reading ranking results back ------------------------------------------------------------


def recompute_ranking(result: Result, names: Sequence[str]) -> tuple[dict[str, float], dict]:
    """A ranking result's metrics and per-user vectors from its sidecar's target ranks."""
    if "rank" not in result.per_user:
        raise ResultsError(
            f"{result.path}: its per-user file has no 'rank' array, so its metrics cannot be "
            "checked; rerun the entry with --force"
        )
    vectors = metric_vectors(np.asarray(result.per_user["rank"]), list(names))
    return {m: float(np.mean(vectors[m])) for m in names}, vectors


def describe_candidates(task: dict[str, Any], protocol: dict[str, Any]) -> str:
    """What a board's targets were ranked against, as its header says it."""
    if task.get("kind") == "candidates":
        text = f"{task.get('n_candidates')} per user"
    else:
        text = "full catalogue"
    if protocol.get("candidates"):
        text += f" ({protocol['candidates']})"
    if task.get("mask_history"):
        text += "; items in the user's history are masked"
    return text


def ranking_header(facts: BoardFacts) -> list[tuple[str, str]]:
    """The protocol lines of a ranking board."""
    p = facts.protocol
    items = [
        ("Dataset", facts.dataset),
        ("Split", str(p.get("split"))),
        ("Chronology", str(p.get("chronology"))),
        ("Candidates", describe_candidates(facts.task, p)),
        ("Item ids", str(p.get("id_indexing"))),
        ("Metric ties", METRIC_TIE_RULE),
        ("Users evaluated", span_text(facts.evaluated)),
        ("Users dropped", span_text(facts.dropped)),
        ("Data quirks", describe_quirks(p.get("data_quirks"))),
    ]
    audit = p.get("leak_audit") or {}
    if "test_max_id_plus_one" in audit:
        items.append((
            "Leak audit",
            f"{audit['test_max_id_plus_one']:.2%} of test targets are the largest history id + 1",
        ))
    return items


#: how ranking results (``task.kind`` full or candidates) are read back
RANKING_RESULTS = ResultKind(
    unit="users",
    per_seed_value="each metric's mean over users",
    recompute=recompute_ranking,
    header=ranking_header,
)
