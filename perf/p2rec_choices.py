"""The P2Rec choice checks side by side: one row per check under
``perf/results/p2rec_choices/<check>/`` (seed 0 of ``p2rec``), against the reference fit of
the same pooling on the same kind of machine (the check that changed only the pooling keeps
both; a fit's floats, so its numbers, depend on the device). A second table averages the
checks that ran on seeds 0-2.

Each check changes one default (``configs/p2rec-choices/<check>.yaml``); it is judged on the
final model's validation NDCG@10 (``fit_info.best_valid_ndcg@10``), never on test, and the
README's "Defaults and their checks" quotes this table. Stage 1's columns say whether it
learnt its target: its best held-out loss (MSE, or KL under ``sft_loss: kl``) against the
same loss of the predictor that outputs the training users' mean category shares. Reads the
committed results only (each sidecar checked against its record); writes
``perf/results/p2rec_choices.md``.

    python perf/p2rec_choices.py [--checks perf/results/p2rec_choices] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.results import iter_result_files, load_result

HERE = Path(__file__).resolve().parent
CHECKS = HERE / "results" / "p2rec_choices"
OUT = HERE / "results" / "p2rec_choices.md"
#: the fit each (pooling, machine)'s checks compare with
REFERENCE = {
    ("last", "CPU"): "pooling-last-rows",  # the row's seeds under the old default
    ("mean", "CPU"): "pooling-mean-rows",  # the row's seeds, the p2rec row itself
    ("mean", "H200"): "reference-gpu",  # the defaults beside tune-lora/tune-full on the GPU
}


def machine(record: dict[str, Any]) -> str:
    """The machine a fit ran on, short: CPU, or the GPU's name without "NVIDIA "."""
    gpu = record["environment"]["hardware"].get("gpu")
    return str(gpu).removeprefix("NVIDIA ") if gpu else "CPU"


def describe(record: dict[str, Any]) -> dict[str, Any]:
    """One check's row: what it changed, its pooling and machine, stage 1's stop and fit, the
    final model's validation and test NDCG@10, and the fit's cost."""
    info, params = record["method"]["fit_info"], record["method"]["params"]
    stage1 = info.get("stage1") or {}
    history = stage1.get("history") or []
    best = min((h["heldout_loss"] for h in history), default=None)
    baseline = stage1.get("heldout_loss_of_mean_shares")
    changed = record["config"]["method_params"]
    return {
        "changes": ", ".join(f"{k}: {v}" for k, v in changed.items()) or "(none)",
        "pooling": params["pooling"],
        "machine": machine(record),
        "stage1": (f"{stage1['stop_reason']} at {stage1['epochs']} (best {stage1['best_epoch']})"
                   if stage1 else "-"),  # fmt: skip
        "gain": (1 - best / baseline) if best is not None and baseline else None,
        "valid": float(info["best_valid_ndcg@10"]),
        "test": float(record["metrics"]["ndcg@10"]),
        "fit_minutes": record["timing"]["fit_seconds"] / 60,
        "cpu_minutes": record["timing"]["fit_cpu_seconds"] / 60,
    }


def delta(
    check: str, seeds: dict[int, dict[str, Any]], by_seed: dict[str, dict[int, dict[str, Any]]]
) -> str:
    """``check``'s mean validation NDCG@10 over ``seeds`` minus its reference's on the same
    seeds (the reference of its pooling and machine); "ref" for the reference itself, "-"
    when the reference did not run on all those seeds."""
    first = next(iter(seeds.values()))
    ref_name = REFERENCE.get((first["pooling"], first["machine"]))
    if ref_name == check:
        return "ref"
    ref = by_seed.get(ref_name or "", {})
    if not set(seeds) <= set(ref):
        return "-"
    diff = np.mean([r["valid"] for r in seeds.values()]) - np.mean([ref[s]["valid"] for s in seeds])
    return f"{diff:+.4f}"


def seed_table(by_seed: dict[str, dict[int, dict[str, Any]]]) -> list[str]:
    """Mean (sample sd) over seeds of the checks that ran on more than one seed, each against
    its reference's mean on the same seeds."""
    many = {c: s for c, s in by_seed.items() if len(s) > 1}
    lines = [
        "| check | changes | machine | seeds | stage-1 gain | valid NDCG@10 | delta | "
        "test NDCG@10 | minutes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def machine_then_name(item: tuple[str, dict[int, dict[str, Any]]]) -> tuple[str, str]:
        return next(iter(item[1].values()))["machine"], item[0]

    for check, seeds in sorted(many.items(), key=machine_then_name):
        rows = list(seeds.values())
        valid = np.array([r["valid"] for r in rows])
        gains = [r["gain"] for r in rows if r["gain"] is not None]
        lines.append(
            f"| `{check}` | {rows[0]['changes']} | {rows[0]['machine']} | "
            f"{','.join(map(str, sorted(seeds)))} | "
            f"{f'{np.mean(gains):+.0%}' if gains else '-'} | "
            f"{valid.mean():.4f} ± {valid.std(ddof=1):.4f} | {delta(check, seeds, many)} | "
            f"{np.mean([r['test'] for r in rows]):.4f} | "
            f"{np.mean([r['fit_minutes'] for r in rows]):.0f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", default=str(CHECKS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()

    by_seed: dict[str, dict[int, dict[str, Any]]] = {}
    for folder in sorted(p for p in Path(args.checks).iterdir() if p.is_dir()):
        for path in iter_result_files(folder):  # <check>/<dataset>/<task>/<method>/seed<k>.json
            rec = load_result(path).record
            if (rec["method"]["name"], rec["task"]["name"]) == ("p2rec", "sequential"):
                by_seed.setdefault(folder.name, {})[int(rec["seed"])] = describe(rec)
    rows = {c: s[args.seed] for c, s in by_seed.items() if args.seed in s}
    if not rows:
        raise SystemExit(f"no p2rec seed-{args.seed} sequential results under {args.checks}")

    lines = [
        f"# python perf/p2rec_choices.py --seed {args.seed}",
        "",
        "ML-100K `sequential`, `p2rec` seed " + str(args.seed) + ". Stage-1 gain: best "
        "held-out loss below the mean-share predictor's (positive = learnt). Delta: validation "
        "NDCG@10 against the reference fit of the same pooling on the same machine. Minutes: "
        "fit wall (CPU).",
        "",
        "| check | changes | pooling | machine | stage 1 stopped | stage-1 gain | "
        "valid NDCG@10 | delta | test NDCG@10 | minutes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = sorted(rows.items(), key=lambda kv: (kv[1]["machine"], kv[1]["pooling"], kv[0]))
    for check, row in order:
        gain = f"{row['gain']:+.0%}" if row["gain"] is not None else "-"
        lines.append(
            f"| `{check}` | {row['changes']} | {row['pooling']} | {row['machine']} | "
            f"{row['stage1']} | {gain} | {row['valid']:.4f} | "
            f"{delta(check, {args.seed: row}, by_seed)} | {row['test']:.4f} | "
            f"{row['fit_minutes']:.0f} ({row['cpu_minutes']:.0f}) |"
        )
    lines += [
        "",
        "The checks that ran on several seeds: mean over seeds (validation: ± sample sd); "
        "delta: mean validation NDCG@10 against the reference's mean on the same seeds; "
        "minutes: mean fit wall.",
        "",
        *seed_table(by_seed),
    ]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    print(text, end="")


if __name__ == "__main__":
    main()
