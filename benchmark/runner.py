"""Run a matrix of (dataset, task, method, seed) entries and write one result per entry.

A method is fitted once per (dataset, method, seed) and then answers every requested task, so
the fit time recorded in each task's result is that one fit. That fit and its tasks are one
run (``RunSpec``), the unit an executor (``--executor local|ray``) places. Finished entries (a
result JSON with the same config hash) are skipped unless ``force``: the plan leaves them out
and each run checks again before fitting, so a killed run resumes at the first entry without a
result. A result counts as finished only when its JSON parses and its per-user file matches the
sha256 recorded in it (``benchmark.resume``); anything else is rerun, and the run says so. All
names, datasets, the results directory and the stored samples the runs will read are checked
before any training starts (``benchmark.preflight``), so bad input never leaves a half-written
results directory.
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.backends.llm import LLMSpec, check_backend
from benchmark.config import RunConfig, stable_hash
from benchmark.data import load_dataset
from benchmark.data.schema import TITLES_IDGENREC, Dataset
from benchmark.environment import PeakMemory, environment
from benchmark.errors import ConfigError, ResultsError
from benchmark.executors import RunSpec, describe, get_executor
from benchmark.preflight import check_results_dir
from benchmark.results import Timing, dataset_key, make_record, result_paths, write_result
from benchmark.resume import changed_params, is_finished, read_entry, sidecar_problem
from methods import METHODS, FitContext, Method
from methods.checkpoint import EpochCheckpoint
from methods.training import earlier_sittings_seconds
from tasks import TASKS, EvalContext, Task
from tasks.base import parse_variant
from tasks.explanation import build_examples
from tasks.explanation import prepare as prepare_explanation
from tasks.indexing import reindex
from tasks.split import MIN_INTERACTIONS, leave_one_out


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} asked for, but torch sees no CUDA device")
    return device


def entry_config(cfg: RunConfig, ds: Dataset, task: Task, method: str, seed: int) -> dict:
    """What determines an entry's numbers; its hash decides whether a result is reusable."""
    return {
        "dataset": ds.name,
        "content_hash": ds.content_hash,
        "data_options": cfg.data_options,
        "task": task.describe(),
        "method": method,
        "method_params": cfg.method_params.get(method, {}),
        "profile": cfg.profile,
        "id_indexing": cfg.id_indexing,
        "seed": seed,
        # only when set, so configs without it keep the hashes of existing results
        **({"backbone": cfg.backbone} if cfg.backbone is not None else {}),
        **llm_entry(cfg, method),
    }


def fit_config(
    cfg: RunConfig,
    ds: Dataset,
    tasks: dict[str, Task],
    method: str,
    seed: int,
    resolved_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What determines one fit (the entry config less its task, plus every task the fit
    serves, which multitask methods read, plus the method's parameters as resolved, defaults
    included, so a changed default never resumes a stale checkpoint): its hash names the
    fit's epoch checkpoint."""
    entry = entry_config(cfg, ds, next(iter(tasks.values())), method, seed)
    del entry["task"]
    return {**entry, "tasks": [t.describe() for t in tasks.values()],
            "resolved_params": resolved_params}  # fmt: skip


#: folder, under a dataset's results, of the epoch checkpoints of unfinished fits
CHECKPOINTS = ".checkpoints"


# ---- LLM methods: --backend / --llm ---------------------------------------------------------
def uses_llm(method: str) -> bool:
    """Whether a registered method runs the run's LLM (``Method.uses_llm``)."""
    return METHODS.get(method).uses_llm


def llm_entry(cfg: RunConfig, method: str) -> dict[str, Any]:
    """``--backend``/``--llm`` for the entry config: for LLM methods only and only when not the
    defaults, so other methods' results, and results from before the flags, keep their hashes."""
    if not uses_llm(method):
        return {}
    out: dict[str, Any] = {}
    if cfg.backend != "auto":
        out["backend"] = cfg.backend
    if cfg.llm is not None:
        out["llm"] = cfg.llm
    return out


class Runner:
    """Executes a ``RunConfig``; ``run()`` returns the paths of the results it wrote.

    ``run()`` checks everything, plans the runs and hands them to the executor with
    ``execute``, which does one run; what ``execute`` needs (datasets, method classes, tasks)
    lives on the runner, so an executor that runs elsewhere ships a copy of it.
    """

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.results_dir = Path(cfg.results_dir)
        # a local run fails here on a missing GPU; Ray workers resolve the device they get
        self._device = resolve_device(cfg.device) if cfg.executor == "local" else None
        #: one lazily built LLM for every LLM method and seed this process runs
        self._llm: LLMSpec | None = None
        self.datasets: dict[str, Dataset] = {}
        self.methods: dict[str, type[Method]] = {}
        self.tasks: dict[str, Task] = {}
        #: entries left out of the last ``run()`` because they were finished
        self.skipped = 0
        #: result JSONs the last ``run()`` set out to write (None before its plan is made)
        self.planned: list[Path] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # a built model (and its engine processes) stays where it was built
        return {**self.__dict__, "_llm": None}

    @property
    def llm(self) -> LLMSpec:
        """The LLM of the runs in this process, built on first use (never by the driver of a
        Ray run, whose workers build their own)."""
        return self._llm_spec(self._device or torch.device("cpu"))

    def _llm_spec(self, device: torch.device) -> LLMSpec:
        if self._llm is None:
            self._llm = LLMSpec(
                backend_name=self.cfg.backend, model_dir=self.cfg.llm, device=str(device),
                show_progress=self.cfg.progress,
                tensor_parallel_size=self.cfg.tensor_parallel_size, cache=self.cfg.llm_cache,
            )
        return self._llm

    def _run_device(self, spec: RunSpec) -> torch.device:
        """The device of one run: the configured one; under Ray, ``auto`` without a GPU for
        this run is the CPU (Ray leaves every GPU visible to runs that asked for none)."""
        if self._device is not None:
            return self._device
        if self.cfg.device == "auto" and not spec.resources.get("num_gpus"):
            return torch.device("cpu")
        return resolve_device(self.cfg.device)

    def resources(self, cls: type[Method]) -> dict[str, float]:
        """What a run of ``cls`` asks of the executor: the method's request for the profile
        (``Method.resources``), no GPU under ``--device cpu``, at least one under ``cuda``."""
        res = cls.resources(self.cfg.profile, tensor_parallel_size=self.cfg.tensor_parallel_size)
        if self.cfg.device == "cpu":
            res["num_gpus"] = 0
        elif self.cfg.device.startswith("cuda"):
            res["num_gpus"] = max(1, res["num_gpus"])
        return res

    # ---- checks before any work -------------------------------------------------------
    def _check_names(self) -> tuple[dict[str, type[Method]], dict[str, Task]]:
        methods = {m: METHODS.get(m) for m in self.cfg.methods}
        for name in self.cfg.task_options:
            if name not in self.cfg.tasks:
                raise ConfigError(f"task_options.{name}: {name!r} is not among --tasks")
        tasks: dict[str, Task] = {}
        for name in self.cfg.tasks:
            # a variant may be named as it appears in results, e.g. "sequential+prompt=unseen"
            base, options = parse_variant(name)
            task = TASKS.get(base)
            options.update(self.cfg.task_options.get(name, {}))
            task = task.with_options(options)
            tasks[task.name] = task
        for mname, cls in methods.items():
            unable = [t for t in tasks.values() if t.kind not in cls.task_kinds]
            if unable:
                kinds = {t.kind for t in unable}
                able = [m for m in METHODS if kinds <= METHODS.get(m).task_kinds]
                raise ConfigError(
                    f"method {mname!r} cannot answer task(s) {[t.name for t in unable]} (it "
                    f"handles {', '.join(sorted(cls.task_kinds))}). Methods that can: "
                    f"{', '.join(able) or 'none yet'}."
                )
            wording = [t.name for t in tasks.values() if t.prompt not in cls.prompt_variants]
            if wording:
                # baselines answer any wording (they read no prompt); name the prompted methods
                able = [m for m in METHODS if "unseen" in METHODS.get(m).prompt_variants
                        and not METHODS.get(m).baseline]
                raise ConfigError(
                    f"method {mname!r} cannot be evaluated on task(s) {wording}: it supports "
                    f"prompt wording(s) {', '.join(sorted(cls.prompt_variants))}. Methods with "
                    f"held-out prompts: {', '.join(able) or 'none'}; run them in their own "
                    "--methods list."
                )
        for name in self.cfg.method_params:
            if name not in methods:
                raise ConfigError(f"method_params.{name}: {name!r} is not among --methods")
        for cls in methods.values():
            _check_params(cls, self.cfg.profile, self._params(cls))
        if any(uses_llm(m) for m in methods):
            from benchmark.backends.llm import resolve_llm

            check_backend(self.cfg.backend)
            if self.cfg.llm is not None:
                resolve_llm(self.cfg.llm)  # a clear error for a directory without config.json
        return methods, tasks

    def _params(self, cls: type[Method]) -> dict[str, Any]:
        """The method's parameters from the config; ``--backbone`` reaches methods that take it."""
        params = dict(self.cfg.method_params.get(cls.name, {}))
        if self.cfg.backbone is not None and "backbone" in cls.defaults.get("cpu", {}):
            params.setdefault("backbone", self.cfg.backbone)
        return params

    def _check_data(self, ds: Dataset, tasks: dict[str, Task]) -> None:
        """Fail before any training when a task cannot be built from ``ds``."""
        if not any(len(s) >= MIN_INTERACTIONS for s in ds.sequences()):
            raise ConfigError(
                f"dataset {ds.name!r} ({ds.source}): no user has the {MIN_INTERACTIONS} "
                "interactions a leave-one-out split needs"
            )
        for task in tasks.values():
            task.check_data(ds)
        needs_reviews = [t.name for t in tasks.values() if t.needs_reviews]
        if needs_reviews and not _has_review_text(ds):
            raise ConfigError(
                f"dataset {ds.name!r} has no review text, which task(s) {needs_reviews} need; "
                "use a review dataset (for example an amazon2018 file) for them"
            )
        if _has_review_text(ds):
            build_examples(ds)  # every run of a review dataset prepares them (see _run_one)

    def _check_samples(self, specs: list[RunSpec]) -> None:
        """Fail before any training when a stored candidate list or user sample that a planned
        run will read is damaged or was drawn for other data (it is read only after the fit)."""
        users: dict[str, np.ndarray] = {}
        for spec in specs:
            ds = self.datasets[spec.dataset]
            if ds.name not in users:
                users[ds.name] = leave_one_out(ds).users
            key = dataset_key(ds.name, self.cfg.id_indexing)
            for name in spec.tasks:
                self.tasks[name].check_samples(
                    self.results_dir / key / name, seed=spec.seed, dataset=ds,
                    users=users[ds.name], results_dir=self.results_dir,
                )

    def _warn_generated_titles(self) -> None:
        """Say at the start when an LLM method will read generated ids as item titles."""
        llm = [m for m in self.methods if uses_llm(m)]
        for ds in self.datasets.values():
            if llm and ds.titles_origin == TITLES_IDGENREC:
                print(
                    f"warning: dataset {ds.name!r} has no item titles, only {TITLES_IDGENREC}; "
                    f"the LLM method(s) {', '.join(llm)} will read those ids as titles",
                    file=sys.stderr,
                )

    def _pending(
        self, ds: Dataset, tasks: dict[str, Task], method: str, seed: int, *, say: bool = True
    ) -> list[str]:
        """The tasks whose entry is not finished. An entry that cannot be verified (see
        ``benchmark.resume``) is rerun, with one line saying why when ``say``."""
        key = dataset_key(ds.name, self.cfg.id_indexing)
        todo = []
        for name, task in tasks.items():
            json_path, _ = result_paths(self.results_dir, key, name, method, seed)
            if self.cfg.force or not json_path.exists():
                todo.append(name)
                continue
            record = read_entry(json_path)
            if record is None:
                problem: str | None = "its JSON does not parse"
            else:
                want = stable_hash(entry_config(self.cfg, ds, task, method, seed))
                if record.get("config_hash") != want:
                    raise ResultsError(
                        f"{json_path} was produced with a different configuration (config hash "
                        f"{str(record.get('config_hash'))[:12]} != {want[:12]}). Use --force to "
                        "overwrite it or --results-dir to write elsewhere."
                    )
                problem = sidecar_problem(json_path, record)
                if problem is None and say:
                    self._say_changed_defaults(json_path, record, method)
            if problem is not None:
                if say:
                    print(f"rerunning {json_path}: {problem}", file=sys.stderr)
                todo.append(name)
        return todo

    def _say_changed_defaults(self, json_path: Path, record: dict[str, Any], method: str) -> None:
        """One line when a kept entry ran under parameter values the method no longer
        resolves to (a default changed since): the config hash cannot see that."""
        cls = METHODS.get(method)
        recorded = (record.get("method") or {}).get("params")
        stale = changed_params(recorded, cls.Params.resolve(method, self.cfg.profile,
                                                             self._params(cls)))  # fmt: skip
        if stale:
            values = ", ".join(f"{k}={was!r} (now {now!r})" for k, (was, now) in stale.items())
            print(f"keeping {json_path}: it ran with {values}; a default changed since. "
                  "--force reruns it", file=sys.stderr)  # fmt: skip

    def interrupted_counts(self) -> tuple[int, int | None]:
        """How many of the entries the last ``run()`` planned are finished now, of how many
        (None before the plan was made): what an interrupted run reports."""
        if self.planned is None:
            return 0, None
        return sum(is_finished(p) for p in self.planned), len(self.planned)

    # ---- the run ----------------------------------------------------------------------
    def run(self) -> list[Path]:
        self.planned = None
        self.methods, self.tasks = self._check_names()
        check_results_dir(self.results_dir)
        self.datasets = {}
        for d in self.cfg.datasets:
            ds = load_dataset(d, self.cfg.data_format, options=self.cfg.data_options)
            other = self.datasets.setdefault(ds.name, ds)
            if other.content_hash != ds.content_hash:
                raise ConfigError(
                    f"datasets: {other.source!r} and {ds.source!r} are both named {ds.name!r} "
                    "and would write to the same results; rename one of them"
                )
        for ds in self.datasets.values():
            self._check_data(ds, self.tasks)
        specs = self.plan()
        self._check_samples(specs)
        self._warn_generated_titles()
        self.planned = [self._json_path(spec, t) for spec in specs for t in spec.tasks]
        executor = get_executor(self.cfg.executor, self.cfg.address)
        if executor.name == "local":
            return executor.run(specs, self.execute, progress=self.cfg.progress)
        worker = self._for_workers()
        written = executor.run(specs, worker.execute, progress=self.cfg.progress)
        # the paths as a local run returns them (workers wrote under the absolute directory)
        return [self.results_dir / p.relative_to(worker.results_dir) for p in written]

    def plan(self) -> list[RunSpec]:
        """The runs with at least one unfinished entry, in (dataset, seed, method) order."""
        specs, self.skipped = [], 0
        for ds in self.datasets.values():
            for seed in self.cfg.seeds:
                for method, cls in self.methods.items():
                    todo = self._pending(ds, self.tasks, method, seed)
                    self.skipped += len(self.tasks) - len(todo)
                    if todo:
                        specs.append(
                            RunSpec(ds.name, method, seed, tuple(todo), self.resources(cls))
                        )
        return specs

    def _json_path(self, spec: RunSpec, task: str) -> Path:
        key = dataset_key(spec.dataset, self.cfg.id_indexing)
        return result_paths(self.results_dir, key, task, spec.method, spec.seed)[0]

    def execute(self, spec: RunSpec) -> list[Path]:
        """Do one run: fit once and answer its tasks that are still unfinished (checked again
        here: another process may have finished some since the plan was made)."""
        ds = self.datasets[spec.dataset]
        todo = self._pending(
            ds, {t: self.tasks[t] for t in spec.tasks}, spec.method, spec.seed, say=False
        )
        if not todo:
            return []
        device = self._run_device(spec)
        try:
            return self._run_one(
                ds, spec.seed, self.methods[spec.method], {t: self.tasks[t] for t in todo},
                device,
            )
        finally:
            if self.cfg.executor != "local":
                self._close_llm()

    def _for_workers(self) -> Runner:
        """The copy an executor ships to its workers: no progress bars of its own (the driver
        shows runs as they finish) and an absolute results directory (workers may start
        elsewhere; on a cluster it must be the same shared path on every node)."""
        cfg = dataclasses.replace(
            self.cfg, progress=False, results_dir=str(self.results_dir.resolve())
        )
        worker = Runner(cfg)
        worker.datasets, worker.methods, worker.tasks = self.datasets, self.methods, self.tasks
        return worker

    def _close_llm(self) -> None:
        """Free a model built for one run (a Ray worker process may serve the next run)."""
        if self._llm is not None and self._llm.built:
            close = getattr(self._llm.backend(), "close", None)
            if close is not None:
                close()
        self._llm = None

    def _run_one(
        self, ds: Dataset, seed: int, method_cls: type[Method], tasks: dict[str, Task],
        device: torch.device,
    ) -> list[Path]:
        cfg = self.cfg
        # the code version is read before the fit: a checkout that moves on while a long fit
        # runs must not be recorded as the code that produced it
        env = environment(str(device), (self.results_dir,))
        llm = self._llm_spec(device)
        llm_counts = llm.cache_counts()  # this entry's replayed answers are counted from here
        _seed_everything(seed)
        data = reindex(ds, cfg.id_indexing, seed)
        split = leave_one_out(data)
        if split.n_users == 0:
            raise ResultsError(f"{ds.name}: no user has the 3 interactions a split needs")
        explanation = prepare_explanation(data, split, seed) if _has_review_text(data) else None
        method = method_cls(profile=cfg.profile, **self._params(method_cls))
        key = dataset_key(ds.name, cfg.id_indexing)
        fit = fit_config(cfg, ds, tasks, method_cls.name, seed, method.params)
        fit_hash = stable_hash(fit)[:16]
        checkpoint = EpochCheckpoint(self.results_dir / key / CHECKPOINTS
                                     / f"{method_cls.name}-seed{seed}-{fit_hash}.pt")  # fmt: skip
        if cfg.force:
            checkpoint.clear()  # --force starts every fit over
        ctx = FitContext(
            dataset=data, split=split, seed=seed, profile=cfg.profile, device=device,
            show_progress=cfg.progress, explanation=explanation, task_names=tuple(tasks),
            llm=llm, checkpoint=checkpoint,
        )
        with PeakMemory(device) as fit_mem:
            t0, c0 = time.perf_counter(), time.process_time()
            method.fit(ctx)
            fit_seconds = time.perf_counter() - t0
            fit_cpu_seconds = time.process_time() - c0
        # a fit resumed from epoch checkpoints also cost the earlier sittings' epochs
        fit_seconds += earlier_sittings_seconds(getattr(method, "fit_info", None))
        paths = []
        for name, task in tasks.items():
            json_path, _ = result_paths(self.results_dir, key, name, method_cls.name, seed)
            ectx = EvalContext(
                dataset=ds, split=split, seed=seed, task_dir=json_path.parent.parent,
                results_dir=self.results_dir, id_indexing=cfg.id_indexing,
                explanation=explanation, batch_size=cfg.batch_size, progress=cfg.progress,
            )
            method.predict_info = {}
            method.prompt = task.prompt
            with PeakMemory(device) as pred_mem:
                t0, c0 = time.perf_counter(), time.process_time()
                evaluation = task.evaluate(method, ectx)
                predict_seconds = time.perf_counter() - t0
                predict_cpu_seconds = time.process_time() - c0
            timing = Timing(
                fit_seconds=fit_seconds, fit_cpu_seconds=fit_cpu_seconds,
                predict_seconds=predict_seconds, predict_cpu_seconds=predict_cpu_seconds,
                peak_memory_mb=max(fit_mem.peak_mb, pred_mem.peak_mb),
                peak_memory_scope=fit_mem.scope,
            )
            record = make_record(
                dataset=ds, key=key, task=task, method=method, seed=seed, profile=cfg.profile,
                evaluation=evaluation, protocol=task.protocol(ectx, evaluation), timing=timing,
                config=entry_config(cfg, ds, task, method_cls.name, seed),
                environment={
                    **env,
                    "executor": describe(cfg.executor, cfg.address),
                },
                command=cfg.command,
                # the LLM that answered (backend, model directory), for LLM methods
                backend=llm.info(since=llm_counts) if uses_llm(method_cls.name) else None,
            )
            paths.append(write_result(self.results_dir, record, evaluation.per_user))
        checkpoint.clear()  # every result of the fit is written: nothing left to resume
        return paths


def _has_review_text(ds: Dataset) -> bool:
    return ds.reviews is not None and "text" in ds.reviews and len(ds.reviews) > 0


def _seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run(cfg: RunConfig) -> list[Path]:
    """Run ``cfg``'s matrix; see :class:`Runner`."""
    return Runner(cfg).run()


def _check_params(cls: type[Method], profile: str, params: dict[str, Any]) -> None:
    """Build the method once with the config's parameters, so a misspelt or invalid
    ``method_params`` entry fails before any data is loaded, with the field named."""
    accepted = cls.param_defaults(profile)
    for key in params:
        if key not in accepted:
            close = difflib.get_close_matches(key, list(accepted), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            takes = (f"accepted: {', '.join(sorted(accepted))}" if accepted
                     else f"{cls.name} takes no parameters")
            raise ConfigError(
                f"method_params.{cls.name}.{key}: {cls.name} has no parameter {key!r}; {hint}"
                f"{takes}"
            )
    cls(profile=profile, **params)  # the method's own checks (ranges, choices)
