"""What the explanation split's coverage rule costs on Amazon 2018 All_Beauty: test examples per
seed when every evaluated item must have a training example (the task's rule) against when every
evaluated user must have one too (P5's rule), after collapsing copies and grouping by text.

The README's choice of rule rests on these numbers. Both splits apply the cross-task guard
against the leave-one-out split, as a run does. Results go to
``perf/results/explanation_split.txt``.

    python perf/explanation_split.py [--data ../shared/data/amazon2018_all_beauty_5core]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmark.data import load_dataset
from tasks.explanation import build_examples, split_checks, split_examples
from tasks.split import leave_one_out

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "explanation_split.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/"
                                              "amazon2018_all_beauty_5core"))
    args = parser.parse_args()
    ds = load_dataset(args.data)
    examples = build_examples(ds)
    split = leave_one_out(ds)
    held = set(zip(split.users.tolist(), split.valid.tolist()))
    held |= set(zip(split.users.tolist(), split.test.tolist()))
    no_train = np.array([p in held for p in zip(examples["user"], examples["item"])])
    lines = [
        f"perf/explanation_split.py on {ds.name}: {len(ds.reviews):,} reviews, "
        f"{int(examples['copies'].sum()):,} with a usable sentence, {len(examples):,} distinct "
        f"(user, text) examples, {examples['user'].nunique():,} users",
    ]
    for seed in (0, 1, 2):
        for cover_users in (False, True):
            parts = split_examples(examples, seed, no_train=no_train, cover_users=cover_users)
            checks = split_checks(examples, parts)
            n_test = int((parts == "test").sum())
            cold = checks["users_without_training"]["test"]
            rule = "items and users covered" if cover_users else "items covered (the task)"
            lines.append(
                f"seed {seed}, {rule:24s}: test {n_test:3d}, valid "
                f"{int((parts == 'valid').sum()):3d}, train {int((parts == 'train').sum()):4d}; "
                f"test examples with a cold user {cold} ({cold / max(n_test, 1):.1%}); verbatim "
                f"overlap {checks['verbatim_overlap']['test']:.1%}"
            )
    text = "\n".join(lines) + "\n"
    print(text, end="")
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
