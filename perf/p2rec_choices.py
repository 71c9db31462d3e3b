"""The P2Rec choice checks side by side: one row per check under
``perf/results/p2rec_choices/<check>/`` (seed 0 of ``p2rec``), against the reference fit of
the same pooling (the check that changed only the pooling keeps both).

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

from benchmark.results import iter_result_files, load_result

HERE = Path(__file__).resolve().parent
CHECKS = HERE / "results" / "p2rec_choices"
OUT = HERE / "results" / "p2rec_choices.md"
#: the fit each pooling's checks compare with (both ran the row's seeds under one config)
REFERENCE = {"last": "pooling-last-rows", "mean": "pooling-mean-rows"}


def describe(record: dict[str, Any]) -> dict[str, Any]:
    """One check's row: what it changed, its pooling, stage 1's stop and fit, the final
    model's validation and test NDCG@10, and the fit's cost."""
    info, params = record["method"]["fit_info"], record["method"]["params"]
    stage1 = info.get("stage1") or {}
    history = stage1.get("history") or []
    best = min((h["heldout_loss"] for h in history), default=None)
    baseline = stage1.get("heldout_loss_of_mean_shares")
    changed = record["config"]["method_params"]
    return {
        "changes": ", ".join(f"{k}: {v}" for k, v in changed.items()) or "(none)",
        "pooling": params["pooling"],
        "stage1": (f"{stage1['stop_reason']} at {stage1['epochs']} (best {stage1['best_epoch']})"
                   if stage1 else "-"),  # fmt: skip
        "mse_gain": (f"{1 - best / baseline:+.0%}" if best is not None and baseline else "-"),
        "valid": float(info["best_valid_ndcg@10"]),
        "test": float(record["metrics"]["ndcg@10"]),
        "minutes": f"{record['timing']['fit_seconds'] / 60:.0f} "
                   f"({record['timing']['fit_cpu_seconds'] / 60:.0f})",  # fmt: skip
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", default=str(CHECKS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()

    rows: dict[str, dict[str, Any]] = {}
    for folder in sorted(p for p in Path(args.checks).iterdir() if p.is_dir()):
        for path in iter_result_files(folder):  # <check>/<dataset>/<task>/<method>/seed<k>.json
            rec = load_result(path).record
            if (rec["method"]["name"], rec["task"]["name"], int(rec["seed"])) == (
                "p2rec", "sequential", args.seed
            ):
                rows[folder.name] = describe(rec)
    if not rows:
        raise SystemExit(f"no p2rec seed-{args.seed} sequential results under {args.checks}")

    lines = [
        f"# python perf/p2rec_choices.py --seed {args.seed}",
        "",
        "ML-100K `sequential`, `p2rec` seed " + str(args.seed) + ". Stage-1 gain: best "
        "held-out loss below the mean-share predictor's (positive = learnt). Delta: validation "
        "NDCG@10 against the reference fit of the same pooling. Minutes: fit wall (CPU).",
        "",
        "| check | changes | pooling | stage 1 stopped | stage-1 gain | valid NDCG@10 | "
        "delta | test NDCG@10 | minutes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for check, row in sorted(rows.items(), key=lambda kv: (kv[1]["pooling"], kv[0])):
        ref = rows.get(REFERENCE.get(row["pooling"], ""))
        delta = "ref" if ref is row else (f"{row['valid'] - ref['valid']:+.4f}" if ref else "-")
        lines.append(
            f"| `{check}` | {row['changes']} | {row['pooling']} | {row['stage1']} | "
            f"{row['mse_gain']} | {row['valid']:.4f} | {delta} | {row['test']:.4f} | "
            f"{row['minutes']} |"
        )
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    print(text, end="")


if __name__ == "__main__":
    main()
