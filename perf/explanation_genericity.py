"""How generic the committed explanation fits are: per method and seed, how many distinct
sentences it wrote for the test examples and how many examples its most frequent one answered;
then the BLEU-1 that one method's seed-0 favourite would score answered for every test example
of each seed.

The README's explanation findings ("3-6 distinct sentences per seed", "its seed-0 favourite
answered for every example scores ...") rest on these numbers. Reads the committed results
only (each sidecar checked against its record); BLEU-1 is the board's own ``bleu_p5``. Writes
``perf/results/explanation_genericity.txt``.

    python perf/explanation_genericity.py [--results results]
                                          [--board amazon2018_all_beauty_5core/explanation]
                                          [--favourite-of peapod-knn]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from benchmark.metrics.text import bleu_p5
from benchmark.results import iter_result_files, load_result

ROOT = Path(__file__).resolve().parent.parent
BOARD = "amazon2018_all_beauty_5core/explanation"
RESULTS = Path(__file__).resolve().parent / "results" / "explanation_genericity.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(ROOT / "results"))
    parser.add_argument("--board", default=BOARD, help="<dataset key>/<task> under --results")
    parser.add_argument("--favourite-of", default="peapod-knn",
                        help="the method whose seed-0 most frequent sentence is scored")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()

    runs = {}
    board = Path(args.results) / args.board
    for path in iter_result_files(Path(args.results)):
        if path.parent.parent != board:
            continue
        res = load_result(path)
        runs[res.record["method"]["name"], int(res.record["seed"])] = res.per_user
    if not runs:
        raise SystemExit(f"no results under {board}")

    lines = [f"# python perf/explanation_genericity.py --board {args.board} "
             f"--favourite-of {args.favourite_of}",
             "method, seed: distinct test outputs / examples; examples answered by the most "
             "frequent one"]  # fmt: skip
    for (method, seed), arrays in sorted(runs.items()):
        counts = Counter(arrays["hypothesis"].tolist())
        top = counts.most_common(1)[0][1]
        lines.append(f"{method}, seed {seed}: {len(counts)} / {len(arrays['hypothesis'])}; {top}")

    favourite_run = runs.get((args.favourite_of, 0))
    if favourite_run is not None:
        favourite = Counter(favourite_run["hypothesis"].tolist()).most_common(1)[0][0]
        lines.append(f"\n{args.favourite_of} seed-0 favourite: {favourite!r}")
        lines.append("answered for every test example (BLEU-1, P5 variant), per seed:")
        seeds = sorted({s for m, s in runs if m == args.favourite_of})
        for seed in seeds:
            refs = runs[args.favourite_of, seed]["reference"].tolist()
            score = bleu_p5([favourite] * len(refs), refs, 1)
            lines.append(f"  seed {seed}: {score:.2f} over {len(refs)} examples")

    text = "\n".join(lines) + "\n"
    print(text, end="")
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
