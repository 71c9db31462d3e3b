"""Run configuration: command-line flags and YAML files resolve to one ``RunConfig``.

Every flag can be set in a YAML file given with ``--config``; flags given on the command line
win. Keys use the flag names with ``-`` or ``_``. Method hyperparameters go under
``method_params: {sasrec: {hidden: 64}}``.

Each field declares its own flag, help and type (``_option``); the CLI's ``run`` flags, the
coercion of file and flag values and the run cards' rebuilt commands are derived from them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmark.errors import ConfigError

PROFILES = ("cpu", "paper")


def _option(
    help: str | None = None, *, metavar: str | None = None, flag: str | None = None,
    const: Any = None, example: str | None = None, cli: bool = True, in_files: bool = True,
) -> dict[str, Any]:
    """A field's command-line and file metadata, declared next to the field so that a new
    field needs no edit in the CLI, the coercion or the run cards.

    ``help`` may say ``{default}``, rendered from the field's default. ``flag`` replaces the
    default ``--field-name`` (``--no-progress`` clears ``progress``); with ``const`` the flag
    takes no value and sets the field to ``const``. ``example`` shows a mapping field's shape
    in its error; ``cli=False`` gives a field no flag, ``in_files=False`` keeps it out of YAML.
    """
    return {"help": help, "metavar": metavar, "flag": flag, "const": const,
            "example": example, "cli": cli, "in_files": in_files}


@dataclass
class RunConfig:
    """Everything that defines a run matrix.

    Fields with a flag are in the order ``run --help`` lists them; the order is not part of
    any hash (``stable_hash`` sorts keys).
    """

    methods: list[str] = field(
        default_factory=lambda: ["pop", "random", "sasrec"],
        metadata=_option("comma-separated method names (default {default})"),
    )
    datasets: list[str] = field(
        default_factory=lambda: ["ml-100k"],
        metadata=_option("comma-separated registry names or paths (default {default})"),
    )
    tasks: list[str] = field(
        default_factory=lambda: ["sequential", "topn"],
        metadata=_option("comma-separated task names (default {default})"),
    )
    seeds: list[int] = field(
        default_factory=lambda: [0, 1, 2],
        metadata=_option("comma-separated integer seeds (default {default})"),
    )
    profile: str = field(default="cpu", metadata=_option("{default} (default) or paper"))
    #: local t5-small directory for the ``paper`` profile of the T5 methods (never downloaded)
    backbone: str | None = field(
        default=None, metadata=_option("local t5-small directory for --profile paper")
    )
    results_dir: str = field(
        default="results", metadata=_option("where results go (default {default})")
    )
    id_indexing: str = field(default="original", metadata=_option("{default} (default) or random"))
    data_format: str | None = field(default=None, metadata=_option("override format detection"))
    device: str = field(default="auto", metadata=_option("{default} (default), cpu or cuda[:N]"))
    #: LLM backend of the LLM methods: auto, hf (transformers) or vllm
    #: (``benchmark.backends.llm.spec``: the names, and the rule by which auto picks)
    backend: str = field(
        default="auto",
        metadata=_option("LLM backend of the LLM methods: {default} (default), hf or vllm"),
    )
    #: local transformers directory of the LLM methods' model; None = the embedded SmolLM2
    llm: str | None = field(
        default=None,
        metadata=_option(
            "local transformers directory of the LLM methods' model (default: the embedded "
            "SmolLM2-135M-Instruct); never downloaded"
        ),
    )
    #: GPUs of one vLLM engine (vLLM's tensor parallelism); an LLM method's run asks for that
    #: many GPUs. Not in the config hash: it changes how fast the model answers, not what.
    tensor_parallel_size: int = field(
        default=1,
        metadata=_option(
            "GPUs of the LLM methods' vLLM engine (vLLM tensor parallelism; default {default}); "
            "each such run asks the executor for that many GPUs",
            metavar="N",
        ),
    )
    #: SQLite file of the LLM methods' answers, kept across runs. Not in the config hash: a
    #: greedy or seeded answer is a function of the weights and the request, so reading it back
    #: changes how fast a run is, not its numbers (results record how many were read back).
    llm_cache: str | None = field(
        default=None,
        metadata=_option(
            "SQLite file that keeps the LLM methods' greedy/seeded answers per weights and "
            "backend, so a rerun (after a crash, or with --force) reads them back instead of "
            "asking the model; its results record how many (their timings then measure the "
            "cache); default: none (repeats are answered once within a run)",
            metavar="PATH",
        ),
    )
    batch_size: int = field(default=1024, metadata=_option("users per scoring batch"))
    #: where the runs execute: ``local`` (this process, one after another) or ``ray``
    executor: str = field(
        default="local",
        metadata=_option(
            "{default} (default: one run after another here) or ray (one Ray task per run, on "
            "this machine or the cluster at --address)",
            metavar="local|ray",
        ),
    )
    #: the Ray head's HOST:PORT for ``executor: ray``; None starts Ray on this machine
    address: str | None = field(
        default=None,
        metadata=_option(
            "Ray head HOST:PORT (or auto, or ray://HOST:PORT) for --executor ray; default: "
            "start Ray on this machine",
            metavar="HOST:PORT",
        ),
    )
    force: bool = field(default=False, metadata=_option("rerun finished entries"))
    #: overrides of task fields, e.g. ``{"sequential": {"mask_history": False}}``; the flag
    #: sets the one override the command line offers
    task_options: dict[str, dict[str, Any]] = field(
        default_factory=dict,
        metadata=_option(
            "sequential: keep the user's history items in the ranking (results go to the task "
            "'sequential+mask_history=false')",
            flag="--no-mask-history", const={"sequential": {"mask_history": False}},
            example="{sequential: {mask_history: false}}",
        ),
    )
    progress: bool = field(default=True, metadata=_option(flag="--no-progress"))
    method_params: dict[str, dict[str, Any]] = field(
        default_factory=dict, metadata=_option(cli=False, example="{sasrec: {hidden: 32}}")
    )
    #: loader options for every dataset of the run, e.g. ``{"kcore": 5}`` for amazon2018
    data_options: dict[str, Any] = field(
        default_factory=dict, metadata=_option(cli=False, example="{kcore: 5}")
    )
    #: the command line that started the run, recorded in each result (set by the CLI, never
    #: read from a file)
    command: str | None = field(default=None, metadata=_option(cli=False, in_files=False))

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


@dataclass(frozen=True)
class Flag:
    """One ``run`` flag, derived from a :class:`RunConfig` field."""

    #: the field it sets (argparse's ``dest``)
    dest: str
    #: ``--field-name``, or the field's own ``flag``
    flag: str
    help: str | None
    metavar: str | None
    #: argparse keyword arguments (``type``, ``action``, ``const``, ``default``)
    argparse_kw: dict[str, Any]


def _hints() -> dict[str, Any]:
    """The fields' resolved types (the annotations are strings under ``from __future__``)."""
    return typing.get_type_hints(RunConfig)


def _default(f: dataclasses.Field) -> Any:
    """A field's default, calling its factory."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def field_default(name: str) -> Any:
    """``RunConfig``'s default for field ``name`` (a fresh copy for mutable defaults)."""
    return _default(_fields()[name])


def _fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(RunConfig)}


def _render_default(value: Any) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


def run_flags() -> list[Flag]:
    """The ``run`` flags, one per field with a flag, in field order: names, help, types and
    actions all follow from the field, so the CLI restates none of them."""
    hints = _hints()
    out = []
    for f in dataclasses.fields(RunConfig):
        meta = f.metadata
        if not meta.get("cli", False):
            continue
        kind = hints[f.name]
        help_text = meta["help"]
        if help_text is not None:
            help_text = help_text.format(default=_render_default(_default(f)))
        kw: dict[str, Any] = {"default": None}
        if meta["const"] is not None:
            kw.update(action="store_const", const=meta["const"])
        elif kind is bool:
            # a flag can only flip a bool away from its default
            kw["action"] = "store_false" if _default(f) else "store_true"
        elif kind is int:
            kw["type"] = int
        out.append(Flag(
            dest=f.name,
            flag=meta["flag"] or flag_of(f.name),
            help=help_text,
            metavar=meta["metavar"],
            argparse_kw=kw,
        ))
    return out


def flag_of(name: str) -> str:
    """The command-line spelling of field ``name``'s value: ``--results-dir`` for
    ``results_dir`` (what run cards print to rebuild a command)."""
    if name not in _fields():
        raise KeyError(name)
    return "--" + name.replace("_", "-")


def _coerce(key: str, value: Any, source: str) -> Any:
    """Turn a file's or flag's value into the field's type, by the field's annotation."""
    kind = _hints()[key]
    origin = typing.get_origin(kind)
    if origin is list:
        (item,) = typing.get_args(kind)
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            items = [items]
        try:
            return [item(str(v).strip()) for v in items if str(v).strip()]
        except ValueError as exc:
            raise ConfigError(f"{source}: {key}: expected a list of {item.__name__}") from exc
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key}: expected true or false, got {value!r}")
        return value
    if kind is int:
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: {key}: expected an integer") from exc
    if origin is dict:
        if not isinstance(value, dict):
            example = _fields()[key].metadata["example"]
            raise ConfigError(f"{source}: {key}: expected a mapping, e.g. {example}")
        return value
    return None if value is None else str(value)


def load_config(path: Path | None, overrides: dict[str, Any]) -> RunConfig:
    """Merge a YAML file (if any) and explicit overrides (``None`` values are ignored)."""
    names = {f.name for f in dataclasses.fields(RunConfig) if f.metadata.get("in_files", True)}
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
    file_methods = values.get("methods")
    for key, value in overrides.items():
        if value is None:
            continue
        value = _coerce(key, value, "command line")
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            value = {**values[key], **value}  # a flag adds to the file's mapping
        values[key] = value
    if overrides.get("methods") is not None and file_methods is not None:
        # --methods running a subset of the file's methods: the file's parameters of the
        # others do not apply (a name in neither list still fails validation as a typo)
        dropped = set(file_methods) - set(values["methods"])
        values["method_params"] = {
            k: v for k, v in values.get("method_params", {}).items() if k not in dropped
        }
    cfg = RunConfig(**values)
    cfg.validate()
    return cfg


def stable_hash(obj: Any) -> str:
    """sha256 of a JSON rendering with sorted keys: equal configs, equal hashes."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
