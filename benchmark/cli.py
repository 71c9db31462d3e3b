"""Command-line interface: ``run``, ``list``, ``audit``, ``leaderboard``, ``cite``, ``compare``
and ``export``.

Errors caused by input (unknown names, malformed files, bad config) print one clear line and
exit with status 2; Ctrl-C prints one line and exits with status 130; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from benchmark.errors import RecbenchError

#: exit status after Ctrl-C, as a shell reports a process ended by SIGINT (128 + 2)
INTERRUPTED = 130


def _add_parser(sub: argparse._SubParsersAction, name: str, **kw: Any) -> argparse.ArgumentParser:
    """A subcommand that takes only whole flag names: with abbreviations, ``--seed`` would
    silently stand for ``--seeds``."""
    return sub.add_parser(name, allow_abbrev=False, **kw)


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = _add_parser(
        sub,
        "run",
        help="run methods on datasets and tasks, writing one result per entry",
        description="Run a (dataset x task x method x seed) matrix. Every flag can also be set "
        "in a YAML file given with --config; flags on the command line win.",
    )
    from benchmark.config import run_flags

    for flag in run_flags():  # one per RunConfig field: names, help and types live there
        kw = dict(flag.argparse_kw, **({"metavar": flag.metavar} if flag.metavar else {}))
        p.add_argument(flag.flag, dest=flag.dest, help=flag.help, **kw)
    p.add_argument("--config", type=Path, help="YAML file with any of the options above")


def _cmd_run(args: argparse.Namespace) -> int:
    import copy
    import shlex

    from benchmark.config import load_config, run_flags
    from benchmark.runner import Runner

    # deep copies: a flag's constant (--no-mask-history) is shared by every parse
    overrides = {f.dest: copy.deepcopy(getattr(args, f.dest)) for f in run_flags()}
    # recorded in every result, as typed (main() keeps argv; sys.argv when called otherwise)
    argv = getattr(args, "argv", None)
    overrides["command"] = "python -m benchmark " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    cfg = load_config(args.config, overrides)
    runner = Runner(cfg)
    try:
        paths = runner.run()
    except KeyboardInterrupt:
        done, total = runner.interrupted_counts()
        when = f"after {done} of {total} entries" if total is not None else "before any entry ran"
        print(f"interrupted {when}; rerun the same command to resume", file=sys.stderr)
        return INTERRUPTED
    print(f"wrote {len(paths)} result(s) under {cfg.results_dir}/; skipped {runner.skipped} "
          "already finished")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from benchmark.data import DATASETS, FORMATS
    from methods import METHODS
    from tasks import TASKS

    print("methods:")
    for name in METHODS:
        print(f"  {name:12s} {METHODS.describe(name)}")
    print("tasks:")
    for name in TASKS:
        print(f"  {name:12s} {TASKS.get(name).description}")
    print("datasets (registry names; any path is accepted too):")
    for name in DATASETS:
        print(f"  {name}")
    print("data formats (auto-detected, or --data-format):")
    for name in FORMATS:
        print(f"  {name}")
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from benchmark.data import load_dataset
    from tasks.indexing import reindex
    from tasks.leak import leak_audit
    from tasks.split import leave_one_out

    rows = []
    for name in args.datasets.split(","):
        ds = load_dataset(name.strip(), args.data_format)
        for mode in ("original", "random"):
            split = leave_one_out(reindex(ds, mode, args.seed))
            audit = leak_audit(split)
            rows.append([ds.name, mode, split.n_users, split.n_dropped,
                         f"{audit['valid_max_id_plus_one']:.4f}",
                         f"{audit['test_max_id_plus_one']:.4f}"])
    print(tabulate(rows, headers=["dataset", "ids", "users", "dropped",
                                  "valid = max+1", "test = max+1"], tablefmt="github"))
    return 0


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from benchmark.leaderboard import check_leaderboards, write_leaderboards

    kw = {"test": args.test, "alpha": args.alpha}
    if args.check:
        problems = check_leaderboards(Path(args.results_dir), Path(args.out), **kw)
        if problems:
            print("leaderboards are out of date with results/:", file=sys.stderr)
            for p in problems:
                print(f"  {p}", file=sys.stderr)
            print("regenerate with: python -m benchmark leaderboard", file=sys.stderr)
            return 1
        print("leaderboards are up to date")
        return 0
    paths = write_leaderboards(Path(args.results_dir), Path(args.out), **kw)
    print(f"wrote {len(paths)} file(s) under {args.out}/")
    return 0


def _cmd_cite(args: argparse.Namespace) -> int:
    from benchmark.cite import cite

    print(cite(args.methods, args.datasets), end="")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from benchmark.compare import compare_results, render_comparison

    result = compare_results(args.result_a, args.result_b, metric=args.metric, test=args.test)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(render_comparison(result), end="")
    return 0


def _seed_list(text: str | None) -> list[int] | None:
    """``--seeds 0,1`` as integers; None when the flag is absent."""
    if text is None:
        return None
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        from benchmark.errors import ConfigError

        raise ConfigError(
            f"--seeds {text!r}: expected comma-separated integers, e.g. 0,1,2"
        ) from None


def _cmd_export(args: argparse.Namespace) -> int:
    from benchmark.export import export_results

    written = export_results(
        Path(args.results_dir), Path(args.dir), args.format, datasets=args.datasets,
        tasks=args.tasks, methods=args.methods, seeds=_seed_list(args.seeds), force=args.force,
    )
    rows = sum(t.rows for t in written)
    print(f"wrote {len(written)} table(s), {rows:,} rows, as {args.format} to {args.dir}/")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark",
        description="recbench: run LLM recommenders and baselines on shared task definitions.",
        allow_abbrev=False,  # see _add_parser
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_parser(sub, "list", help="show methods, tasks, datasets and data formats")
    a = _add_parser(sub, "audit", help="leak audit: share of targets equal to max history id + 1")
    a.add_argument("--datasets", default="ml-100k")
    a.add_argument("--data-format", dest="data_format")
    a.add_argument("--seed", type=int, default=0, help="seed of the random re-indexing")
    lb = _add_parser(sub, "leaderboard", help="render leaderboards from results")
    lb.add_argument("--results-dir", dest="results_dir", default="results")
    lb.add_argument("--out", default="leaderboards")
    lb.add_argument("--test", default="t", help="paired test: t, wilcoxon or randomization")
    lb.add_argument("--alpha", type=float, default=0.05)
    lb.add_argument("--check", action="store_true", help="exit 1 if leaderboards are stale")
    c = _add_parser(sub, "cite", help="BibTeX for the suite and the methods (and datasets) used")
    c.add_argument("--methods", help="comma-separated method names (default: every method)")
    c.add_argument("--datasets", help="comma-separated registry names, formats or paths")
    cmp = _add_parser(
        sub, "compare", help="paired test between two result files of any kind",
        description="Pair the per-sample scores of two results by user (or example) id and "
        "test A against B: two methods, two seeds or two task variants.",
    )
    cmp.add_argument("result_a", type=Path, metavar="RESULT_A", help="a result JSON")
    cmp.add_argument("result_b", type=Path, metavar="RESULT_B", help="a result JSON")
    cmp.add_argument("--metric", help="per-sample metric (default ndcg@10, else the first shared)")
    cmp.add_argument("--test", default="t", help="paired test: t, wilcoxon or randomization")
    ex = _add_parser(
        sub, "export", help="per-user results as parquet files or a saved datasets.DatasetDict",
        description="Write every selected result's per-user values, one table per dataset and "
        "task, with the hashes and commit that identify each result. DIR is replaced whole; "
        "a non-empty DIR that export did not write is refused without --force.",
    )
    ex.add_argument("dir", metavar="DIR", help="output directory")
    ex.add_argument("--format", required=True, choices=["parquet", "hf"],
                    help="parquet: DIR/<dataset>/<task>.parquet; hf: a DatasetDict for "
                    "datasets.load_from_disk, one split per dataset and task")
    ex.add_argument("--results-dir", dest="results_dir", default="results")
    ex.add_argument("--datasets", help="comma-separated dataset keys as filed under results/")
    ex.add_argument("--tasks", help="comma-separated tasks (e.g. sequential,topn+prompt=unseen)")
    ex.add_argument("--methods", help="comma-separated method names")
    ex.add_argument("--seeds", help="comma-separated seeds")
    ex.add_argument("--force", action="store_true",
                    help="replace DIR even if it holds files export did not write")
    return parser


_COMMANDS = {
    "run": _cmd_run,
    "list": _cmd_list,
    "audit": _cmd_audit,
    "leaderboard": _cmd_leaderboard,
    "cite": _cmd_cite,
    "compare": _cmd_compare,
    "export": _cmd_export,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # `run` records the command line in each result
    try:
        return _COMMANDS[args.command](args)
    except RecbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C outside a run's entries: one line, no traceback
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
