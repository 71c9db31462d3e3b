"""Run cards: one Markdown page per leaderboard row saying how its numbers were produced.

After BARS's reproducibility cards: the command, the resolved config and hyperparameters, the
environment, the data hashes, the per-seed numbers and links to every seed's result file and
per-sample log, so a cited row can be checked and rerun. A card is a pure function of the
result files (no generation date, links relative to the card), so ``leaderboard --check``
covers cards like the tables.
"""

from __future__ import annotations

import datetime
import json
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from tabulate import tabulate

from benchmark.config import field_default, flag_of
from benchmark.leaderboard.build import (
    Leaderboard,
    Row,
    capped_stages,
    epoch_cap,
    final_fit_at_cap,
    fit_cost,
)
from benchmark.leaderboard.charts import Chart, curve_chart, stage_chart
from benchmark.results import Result
from tasks import result_kind

__all__ = ["card_link", "card_path", "render_card"]

_SUFFIXES = (".gz", ".json", ".jsonl", ".inter")  # as benchmark.data._io.default_name strips


def card_path(lb: Leaderboard, method: str) -> str:
    """Where a row's card lives, relative to the leaderboards directory."""
    return f"{lb.dataset_key}/{lb.task}/cards/{method}.md"


def card_link(lb: Leaderboard, method: str) -> str:
    """The card's link relative to the leaderboard's own Markdown file."""
    return f"{lb.task}/cards/{method}.md"


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("|", "\\|")


def _num(value: Any, fmt: str) -> str:
    return "–" if value is None else format(float(value), fmt)


def _seed_list(seeds: Sequence[int]) -> str:
    return ", ".join(str(s) for s in seeds)


def _grouped(
    runs: Sequence[Result], value: Callable[[Result], Any]
) -> list[tuple[list[int], Any]]:
    """Seeds that share a value (compared as JSON), in seed order, with that value."""
    groups: dict[str, tuple[list[int], Any]] = {}
    for res in runs:
        v = value(res)
        groups.setdefault(json.dumps(v, sort_keys=True, default=str), ([], v))[0].append(
            int(res.record["seed"])
        )
    return list(groups.values())


# --- the command ------------------------------------------------------------------------------


def _dataset_argument(config: Mapping[str, Any], dataset: Mapping[str, Any]) -> tuple[str, bool]:
    """What ``--datasets`` takes to load this dataset under its recorded name, and whether it
    is a path (the recorded one, which a reader points at their own copy)."""
    from benchmark.data import DATASETS

    name = str(config.get("dataset") or dataset.get("name"))
    if name in DATASETS:
        return name, False
    source = str(dataset.get("source") or name)
    path = PurePosixPath(source)
    stem = path.name
    for suffix in _SUFFIXES:
        stem = stem.removesuffix(suffix)
    if stem == name or path.name == name:
        return source, True
    if path.parent.name == name:  # a directory-based load recorded its file
        return str(path.parent), True
    return source, True


def _reconstructed(runs: Sequence[Result], method: str) -> tuple[str, str | None, bool]:
    """An equivalent ``run`` command for these seeds (same config apart from the seed), the
    YAML its ``--config`` needs (None if none) and whether the dataset is a recorded path."""
    rec = runs[0].record
    config = rec.get("config") or {}
    dataset_arg, is_path = _dataset_argument(config, rec.get("dataset") or {})
    args = [
        "python", "-m", "benchmark", "run",
        flag_of("methods"), method,
        flag_of("datasets"), dataset_arg,
        flag_of("tasks"), str(rec["task"]["name"]),
        flag_of("seeds"), ",".join(str(int(r.record["seed"])) for r in runs),
        # a record without a profile ran under the cpu profile, whatever the default is now
        flag_of("profile"), str(config.get("profile") or rec.get("profile") or "cpu"),
    ]
    # a record without id_indexing ran with original ids; the flag is needed when that is
    # not today's default
    ids = config.get("id_indexing", "original")
    if ids != field_default("id_indexing"):
        args += [flag_of("id_indexing"), str(ids)]
    if is_path and (rec.get("dataset") or {}).get("format"):
        args += [flag_of("data_format"), str(rec["dataset"]["format"])]
    for key in ("backbone", "backend", "llm"):
        if config.get(key) is not None:
            args += [flag_of(key), str(config[key])]
    extra: dict[str, Any] = {}
    if config.get("method_params"):
        extra["method_params"] = {method: config["method_params"]}
    if config.get("data_options"):
        extra["data_options"] = config["data_options"]
    yaml_text = None
    if extra:
        import yaml

        args += ["--config", f"{method}-config.yaml"]
        yaml_text = yaml.safe_dump(extra, sort_keys=True, default_flow_style=False)
    return shlex.join(args), yaml_text, is_path


def _command_section(runs: Sequence[Result], method: str) -> list[str]:
    out = ["## Command", ""]
    recorded = [r for r in runs if r.record.get("command")]
    for seeds, command in _grouped(recorded, lambda r: r.record["command"]):
        text = command if isinstance(command, str) else shlex.join(str(c) for c in command)
        out += [f"Recorded by the run (seed{'s' if len(seeds) > 1 else ''} "
                f"{_seed_list(seeds)}):", "", "```bash", text, "```", ""]
    missing = [r for r in runs if not r.record.get("command")]
    if not missing:
        return out
    # seeds whose configs agree apart from the seed share one reconstructed command
    by_config = _grouped(
        missing, lambda r: {k: v for k, v in (r.record.get("config") or {}).items() if k != "seed"}
    )
    for seeds, _ in by_config:
        group = [r for r in missing if int(r.record["seed"]) in seeds]
        command, yaml_text, is_path = _reconstructed(group, method)
        plural = "s" if len(seeds) > 1 else ""
        out += [
            f"Reconstructed (seed{plural} {_seed_list(seeds)}): the result file{plural} "
            "record no command, so this is an equivalent one rebuilt from the recorded config "
            "(same method, dataset, task, seeds, profile and parameters):",
            "",
        ]
        if yaml_text is not None:
            out += [f"`{method}-config.yaml`:", "", "```yaml", yaml_text.rstrip("\n"), "```", ""]
        out += ["```bash", command, "```", ""]
        if is_path:
            chash = (group[0].record.get("dataset") or {}).get("content_hash")
            out += [f"`--datasets` is the path the run recorded; point it at your copy (its "
                    f"content hash must be `{chash}`).", ""]
    return out


# --- the card ---------------------------------------------------------------------------------


def _link(path: Path, card_dir: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), card_dir.resolve())).as_posix()


def _date(unix: Any) -> str:
    if unix is None:
        return "–"
    return datetime.datetime.fromtimestamp(int(unix), tz=datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC"
    )


def _results_section(lb: Leaderboard, row: Row, runs: Sequence[Result]) -> list[str]:
    unit = result_kind(lb.task_info.get("kind"), lb.task).unit.capitalize()
    headers = ["Seed", *lb.metrics, "Fit (s)", "Predict (s)", "Peak mem (MB)", unit]
    body = []
    for res in runs:
        rec = res.record
        timing = rec.get("timing") or {}
        body.append([
            str(rec["seed"]),
            *(_num(rec["metrics"].get(m), ".4f") for m in lb.metrics),
            _num(fit_cost(rec), ".1f"),
            _num(timing.get("predict_seconds"), ".1f"),
            _num(timing.get("peak_memory_mb"), ",.0f"),
            f"{int(rec.get('users_evaluated', res.users.size)):,}",
        ])
    if len(runs) > 1:
        body.append([
            "mean ± std",
            *(f"{row.cells[m].mean:.4f} ± {row.cells[m].std:.4f}"
              if row.cells[m].std is not None else f"{row.cells[m].mean:.4f}"
              for m in lb.metrics),
            _num(row.fit_seconds, ".1f"), _num(row.predict_seconds, ".1f"),
            _num(row.peak_memory_mb, ",.0f"), "",
        ])
    table = tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)
    what = ("Corpus-level metrics" if unit == "Examples" else "Metric means over users")
    return ["## Results", "", table, "",
            f"{what} of each seed, as the leaderboard reports them (row {row.letter}); the "
            "training log (`method.fit_info`) is in each result file.", ""]


def _files_section(runs: Sequence[Result], card_dir: Path) -> list[str]:
    body = []
    for res in runs:
        rec = res.record
        npz = res.path.with_name(str(rec.get("per_user_file") or res.path.stem + ".npz"))
        body.append([
            str(rec["seed"]),
            f"[{res.path.name}]({_link(res.path, card_dir)})",
            f"[{npz.name}]({_link(npz, card_dir)})",
            f"`{rec.get('per_user_sha256', '–')}`",
            f"`{str(rec.get('config_hash', '–'))[:16]}`",
            _date(rec.get("created_unix")),
        ])
    table = tabulate(body, headers=["Seed", "Result", "Per-sample log", "Log sha256",
                                    "Config hash", "Finished"],
                     tablefmt="github", disable_numparse=True)
    return ["## Files", "", table, "",
            "The result JSON holds everything on this card; the per-sample log (`.npz`, no "
            "pickle) holds each evaluated unit's id and metric values (ranks, or the generated "
            "text), which the significance tests and `python -m benchmark compare` read.", ""]


def _data_section(runs: Sequence[Result], card_dir: Path) -> list[str]:
    rec = runs[0].record
    d = rec.get("dataset") or {}
    out = [
        "## Data",
        "",
        f"- **Dataset:** {d.get('name')} (format {d.get('format')}, {d.get('n_users', 0):,} "
        f"users, {d.get('n_items', 0):,} items, {d.get('n_interactions', 0):,} interactions)",
        f"- **Content hash:** `{d.get('content_hash')}` (sha256 over the source files)",
        f"- **Source, as recorded:** `{d.get('source')}`",
        f"- **Item ids:** {(rec.get('protocol') or {}).get('id_indexing')}",
    ]
    for res in runs:
        cand = res.record.get("candidates_file")
        if cand:
            path = res.path.parents[3] / str(cand["path"])  # relative to the results dir
            out.append(f"- **Candidates, seed {res.record['seed']}:** "
                       f"[`{cand['path']}`]({_link(path, card_dir)}), sha256 `{cand['sha256']}`")
    for seeds, sample in _grouped(runs, lambda r: (r.record.get("protocol") or {})
                                  .get("user_sample")):
        if sample:
            out.append(f"- **User sample (seeds {_seed_list(seeds)}):** "
                       f"{_cell(json.dumps(sample, sort_keys=True))}")
    return [*out, ""]


def _blocks(title: str, intro: str, runs: Sequence[Result],
            value: Callable[[Result], Any]) -> list[str]:
    out = [f"## {title}", "", intro, ""]
    groups = _grouped(runs, value)
    for seeds, v in groups:
        if len(groups) > 1 or len(runs) > 1:
            out += [f"Seed{'s' if len(seeds) > 1 else ''} {_seed_list(seeds)}:", ""]
        out += ["```json", _json(v), "```", ""]
    return out


def _environment_section(runs: Sequence[Result]) -> list[str]:
    envs = [r.record.get("environment") or {} for r in runs]
    rows: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        ("git commit", lambda e: e.get("git_commit")),
        ("uncommitted changes", lambda e: e.get("git_dirty")),
        ("python", lambda e: e.get("python")),
        ("platform", lambda e: e.get("platform")),
    ]
    for section in ("hardware", "packages"):
        keys = sorted({k for e in envs for k in (e.get(section) or {})})
        for key in keys:
            rows.append((f"{section}: {key}",
                         lambda e, s=section, k=key: (e.get(s) or {}).get(k)))
    body = [[label, *(_cell(get(e)) for e in envs)] for label, get in rows]
    headers = ["", *(f"seed {r.record['seed']}" for r in runs)]
    table = tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)
    return ["## Environment", "", table, ""]


def card_charts(lb: Leaderboard, row: Row, runs: Sequence[Result]) -> list[Chart]:
    """Every chart beside ``row``'s card: the learning curves and, for multi-stage fits, the
    stages before the final fit."""
    title = f"{row.method} on {lb.dataset_key} — {lb.task}"
    records = [r.record for r in runs]
    charts = [curve_chart(row.method, title, records), stage_chart(row.method, title, records)]
    return [c for c in charts if c is not None]


def _training_section(lb: Leaderboard, row: Row, runs: Sequence[Result]) -> list[str]:
    """How each seed's fit ended, and its learning curves, for methods that train for epochs."""
    charts = card_charts(lb, row, runs)
    if not any(c.kind == "curve" for c in charts):
        return []
    lines = ["## Training", ""]
    for res in runs:
        info = (res.record.get("method") or {}).get("fit_info") or {}
        params = (res.record.get("method") or {}).get("params") or {}
        cap = epoch_cap(params)
        reason = info.get("stop_reason") or (
            "patience" if info.get("stopped_early") else "cap (reason not recorded)")
        text = (f"- seed {res.record['seed']}: {info.get('epochs')} epoch(s) of at most {cap}, "
                f"best {info.get('best_epoch')}; patience {params.get('patience')}; stopped "
                f"by {reason}")
        if final_fit_at_cap(res.record):
            text += ", **before early stopping ended it** (the row's †)"
        for name in capped_stages(res.record):
            stage = info[name]
            text += (f"; its {name} ran {stage.get('epochs')} epoch(s), best "
                     f"{stage.get('best_epoch')}, patience {stage.get('patience')}: **it ended "
                     "at its cap before early stopping did** (the row's †)")
        if info.get("resumed_from_epoch"):
            text += f"; resumed after epoch {info['resumed_from_epoch']}"
        lines.append(text)
        if (stage1_line := _stage1_against_trivial(info)) is not None:
            lines.append(stage1_line)
    lines.append("")
    for chart in charts:
        lines += [f"![{chart.alt}]({chart.name})", ""]
    return lines


def _stage1_against_trivial(info: dict[str, Any]) -> str | None:
    """Stage 1's held-out loss at its kept epoch beside its trivial predictor's (P2Rec)."""
    stage1 = info.get("stage1") or {}
    trivial = stage1.get("heldout_loss_of_mean_shares")
    kept = [h for h in stage1.get("history") or [] if h.get("epoch") == stage1.get("best_epoch")]
    if trivial is None or not kept or kept[0].get("heldout_loss") is None:
        return None
    loss = kept[0]["heldout_loss"]
    return (f"  - stage 1 held-out loss at its kept epoch {loss:.5f} against {trivial:.5f} for "
            f"the mean-share predictor ({(loss / trivial - 1) * 100:+.0f}%)")


def render_card(lb: Leaderboard, row: Row, runs: Sequence[Result], card_dir: Path) -> str:
    """The card of ``row``; ``runs`` are its results in seed order and ``card_dir`` the
    directory the card is written to (links to the result files are relative to it)."""
    title = f"{lb.dataset_key} — {lb.task}"
    out = [
        f"# {row.method} on {title}",
        "",
        f"Run card of row {row.letter} of the [{title} leaderboard](../../{lb.task}.md): "
        f"{len(runs)} seed{'s' if len(runs) != 1 else ''} ({_seed_list(row.seeds)}). "
        "Generated from the result files by `python -m benchmark leaderboard`; do not edit "
        "by hand.",
        "",
    ]
    out += _command_section(runs, row.method)
    out += _results_section(lb, row, runs)
    out += _training_section(lb, row, runs)
    out += _files_section(runs, card_dir)
    out += _data_section(runs, card_dir)
    out += _blocks(
        "Resolved config",
        "Each result's `config` (its `seed` left out): what its config hash covers, and what "
        "decides whether a rerun can reuse it.",
        runs, lambda r: {k: v for k, v in (r.record.get("config") or {}).items() if k != "seed"},
    )
    out += _blocks(
        "Hyperparameters",
        "`method.params`: the method's parameters as it ran (profile defaults plus any "
        "overrides).",
        runs, lambda r: (r.record.get("method") or {}).get("params") or {},
    )
    out += _environment_section(runs)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"
