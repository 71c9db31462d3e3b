"""Run configuration: command-line flags and YAML files resolve to one ``RunConfig``.

Every flag can be set in a YAML file given with ``--config``; flags given on the command line
win. Keys use the flag names with ``-`` or ``_``. Method hyperparameters go under
``method_params: {sasrec: {hidden: 64}}``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmark.errors import ConfigError

PROFILES = ("cpu", "paper")


@dataclass
class RunConfig:
    """Everything that defines a run matrix."""

    methods: list[str] = field(default_factory=lambda: ["pop", "random", "sasrec"])
    datasets: list[str] = field(default_factory=lambda: ["ml-100k"])
    tasks: list[str] = field(default_factory=lambda: ["sequential", "topn"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    profile: str = "cpu"
    #: local t5-small directory for the ``paper`` profile of the T5 methods (never downloaded)
    backbone: str | None = None
    results_dir: str = "results"
    id_indexing: str = "original"
    data_format: str | None = None
    force: bool = False
    device: str = "auto"
    batch_size: int = 1024
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: loader options for every dataset of the run, e.g. ``{"kcore": 5}`` for amazon2018
    data_options: dict[str, Any] = field(default_factory=dict)
    #: overrides of task fields, e.g. ``{"sequential": {"mask_history": False}}``
    task_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: bool = True
    #: LLM backend of the LLM methods: auto, hf (transformers) or vllm
    #: (``benchmark.backends.llm.spec``: the names, and the rule by which auto picks)
    backend: str = "auto"
    #: local transformers directory of the LLM methods' model; None = the embedded SmolLM2
    llm: str | None = None
    #: GPUs of one vLLM engine (vLLM's tensor parallelism); an LLM method's run asks for that
    #: many GPUs. Not in the config hash: it changes how fast the model answers, not what.
    tensor_parallel_size: int = 1
    #: where the runs execute: ``local`` (this process, one after another) or ``ray``
    executor: str = "local"
    #: the Ray head's HOST:PORT for ``executor: ray``; None starts Ray on this machine
    address: str | None = None
    #: the command line that started the run, recorded in each result (set by the CLI, never
    #: read from a file)
    command: str | None = None

    def validate(self) -> None:
        """Check names and values that need no imports; registries check the rest."""
        from tasks.indexing import ID_INDEXINGS

        if self.profile not in PROFILES:
            raise ConfigError(f"profile: unknown {self.profile!r}; expected one of {PROFILES}")
        if self.id_indexing not in ID_INDEXINGS:
            raise ConfigError(
                f"id_indexing: unknown {self.id_indexing!r}; expected one of {ID_INDEXINGS}"
            )
        for key in ("methods", "datasets", "tasks", "seeds"):
            if not getattr(self, key):
                raise ConfigError(f"{key}: empty; give at least one")
        check_seeds(self.seeds)
        if self.batch_size < 1:
            raise ConfigError(f"batch_size: must be a positive integer, got {self.batch_size}")
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            raise ConfigError(f"device: expected auto, cpu or cuda[:N], got {self.device!r}")
        for key in ("method_params", "task_options"):
            for name, params in getattr(self, key).items():
                if not isinstance(params, dict):
                    raise ConfigError(f"{key}.{name}: expected a mapping of option: value")
        from benchmark.backends.llm.spec import check_backend

        check_backend(self.backend)
        if self.tensor_parallel_size < 1:
            raise ConfigError(
                f"tensor_parallel_size: must be a positive integer, got {self.tensor_parallel_size}"
            )
        if self.tensor_parallel_size > 1 and self.backend == "hf":
            raise ConfigError(
                f"tensor_parallel_size: {self.tensor_parallel_size} needs the vllm backend "
                "(transformers runs one model on one device); use --backend vllm or auto"
            )
        from benchmark.executors import check_executor

        check_executor(self.executor, self.address, self.device)
        if self.llm is not None and not (Path(self.llm).expanduser() / "config.json").is_file():
            raise ConfigError(
                f"llm: {self.llm!r} is not a local transformers model directory (no "
                "config.json); hub names are not downloaded. Leave it unset for the embedded "
                "SmolLM2-135M-Instruct."
            )


#: numpy's legacy seeding (``np.random.seed``) takes 0 <= seed < 2**32
SEED_LIMIT = 2**32


def check_seeds(seeds: list[int]) -> None:
    """Refuse a seed numpy cannot take, or one given twice, before anything is written (a bad
    seed would fail only when its run starts, after the earlier seeds' results; a repeated one
    would run and be reported twice)."""
    for seed in seeds:
        integral = isinstance(seed, numbers.Integral) and not isinstance(seed, bool)
        if not integral or not 0 <= seed < SEED_LIMIT:
            raise ConfigError(
                f"seeds: {seed!r} is out of range; expected integers 0 <= seed < 2**32"
            )
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ConfigError(f"seeds: {repeated[0]} is given more than once; list each seed once")


_EXAMPLES = {
    "method_params": "{sasrec: {hidden: 32}}",
    "task_options": "{sequential: {mask_history: false}}",
    "data_options": "{kcore: 5}",
}
_LIST_FIELDS = {"methods": str, "datasets": str, "tasks": str, "seeds": int}
#: fields a YAML file cannot set: the command line is what was typed, not configuration
_NOT_IN_FILES = {"command"}


def _coerce(key: str, value: Any, source: str) -> Any:
    if key in _LIST_FIELDS:
        kind = _LIST_FIELDS[key]
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            items = [items]
        try:
            return [kind(str(v).strip()) for v in items if str(v).strip()]
        except ValueError as exc:
            raise ConfigError(f"{source}: {key}: expected a list of {kind.__name__}") from exc
    if key in ("force", "progress"):
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key}: expected true or false, got {value!r}")
        return value
    if key in ("batch_size", "tensor_parallel_size"):
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: {key}: expected an integer") from exc
    if key in ("method_params", "task_options", "data_options"):
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key}: expected a mapping, e.g. {_EXAMPLES[key]}")
        return value
    return None if value is None else str(value)


def load_config(path: Path | None, overrides: dict[str, Any]) -> RunConfig:
    """Merge a YAML file (if any) and explicit overrides (``None`` values are ignored)."""
    names = {f.name for f in dataclasses.fields(RunConfig)} - _NOT_IN_FILES
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"{path}: config file not found")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping of option: value at the top level")
        for key, value in raw.items():
            norm = str(key).replace("-", "_")
            if norm not in names:
                raise ConfigError(
                    f"{path}: unknown option {key!r}; known: {', '.join(sorted(names))}"
                )
            values[norm] = _coerce(norm, value, str(path))
    for key, value in overrides.items():
        if value is None:
            continue
        value = _coerce(key, value, "command line")
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            value = {**values[key], **value}  # a flag adds to the file's mapping
        values[key] = value
    cfg = RunConfig(**values)
    cfg.validate()
    return cfg


def stable_hash(obj: Any) -> str:
    """sha256 of a JSON rendering with sorted keys: equal configs, equal hashes."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
