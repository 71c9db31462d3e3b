"""SASRec training speed against RecBole 1.2.1's SASRec on the same data, in one run.

Both models have the same architecture (64-d, 2 layers, 2 heads, inner 256, max length 50,
full-softmax cross-entropy) and train on the same leave-one-out training sequences. They differ
in what an epoch is, which is the point of the comparison:

* ours cuts each training sequence into non-overlapping windows of 50 and puts the loss on every
  position (one forward pass per window, ``methods.sasrec``);
* RecBole augments the sequences: every prefix is a sample with the loss on its last position
  only, so an epoch makes one forward pass *per training position*.

Both see each training position once per epoch. The script times one full training epoch of
ours (``SASRec.fit`` with one epoch; validation excluded) and the first ``--batches`` training
batches of RecBole's own loop (its data loader, ``calculate_loss``, backward, Adam step), and
extrapolates RecBole to its full epoch from its batch count. RecBole needs numpy < 1.24, which
this project does not support, so it runs in its own virtual environment as a subprocess of this
script (``--recbole-python``, or ``RECBENCH_RECBOLE_PYTHON``); set one up with::

    python -m venv /work/recbole-venv
    /work/recbole-venv/bin/pip install torch==2.13.0 numpy==1.23.5 "scipy<1.12" "pandas<2.1" \\
        tqdm colorlog==4.7.2 colorama==0.4.4 pyyaml tabulate texttable psutil "scikit-learn<1.4"
    /work/recbole-venv/bin/pip install --no-deps recbole==1.2.1

Both sides get the same number of torch threads (``--threads``). RecBole reads the training data
from atomic files this script writes: each user's sequence in our split's order, timestamps
replaced by positions, so RecBole's own leave-one-out split (order TO) gives the same training
sequences as ours.

    python perf/sasrec_recbole.py [--dataset ml-1m] [--batches 40] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARCH = {"hidden": 64, "n_layers": 2, "n_heads": 2, "inner": 256, "max_len": 50, "dropout": 0.3}
RECBOLE_BATCH = 2048  # RecBole's default train_batch_size


def write_atomic(dataset_name: str, folder: Path) -> dict[str, int]:
    """Write ``<folder>/<name>/<name>.inter`` from our leave-one-out split; return its sizes."""
    from benchmark.data import load_dataset
    from tasks.split import leave_one_out

    split = leave_one_out(load_dataset(dataset_name))
    out = folder / dataset_name
    out.mkdir(parents=True, exist_ok=True)
    rows = 0
    with open(out / f"{dataset_name}.inter", "w", encoding="utf-8") as f:
        f.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for user, train, valid, test in zip(
            split.users, split.train, split.valid, split.test, strict=True
        ):
            sequence = [*train.tolist(), int(valid), int(test)]
            for position, item in enumerate(sequence):
                f.write(f"u{user}\ti{item}\t{position}\n")
            rows += len(sequence)
    positions = sum(max(len(t) - 1, 0) for t in split.train)
    return {"users": split.n_users, "items": split.n_items, "rows": rows,
            "train_positions": positions}  # fmt: skip


def time_ours(dataset_name: str, threads: int) -> dict[str, float]:
    """One training epoch of ``methods.sasrec`` (validation time excluded)."""
    import torch

    from benchmark.data import load_dataset
    from methods.base import FitContext
    from methods.sasrec import SASRec
    from tasks.split import leave_one_out

    torch.set_num_threads(threads)
    data = load_dataset(dataset_name)
    split = leave_one_out(data)
    model = SASRec(profile="cpu", max_epochs=1, **ARCH)
    start = time.perf_counter()
    model.fit(FitContext(dataset=data, split=split, seed=0, show_progress=False))
    wall = time.perf_counter() - start
    info = model.fit_info
    train_seconds = info["train_positions"] / info["train_positions_per_second"]
    return {"epoch_train_seconds": train_seconds, "fit_seconds_with_validation": wall,
            "train_positions": info["train_positions"], "windows": info["train_windows"],
            "batch_size": model.params["batch_size"]}  # fmt: skip


def recbole_worker(data_dir: Path, dataset_name: str, batches: int, threads: int) -> None:
    """Runs inside RecBole's venv: build its data and model, time ``batches`` training steps."""
    import recbole
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.sequential_recommender import SASRec as RecBoleSASRec
    from recbole.utils import init_seed

    torch.set_num_threads(threads)
    config = Config(
        model="SASRec",
        dataset=dataset_name,
        config_dict={
            "data_path": str(data_dir), "checkpoint_dir": str(data_dir / "saved"),
            "use_gpu": False, "device": "cpu", "seed": 0, "reproducibility": True,
            "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
            "loss_type": "CE", "train_neg_sample_args": None,
            "hidden_size": ARCH["hidden"], "inner_size": ARCH["inner"],
            "n_layers": ARCH["n_layers"], "n_heads": ARCH["n_heads"],
            "hidden_dropout_prob": ARCH["dropout"], "attn_dropout_prob": ARCH["dropout"],
            "MAX_ITEM_LIST_LENGTH": ARCH["max_len"], "train_batch_size": RECBOLE_BATCH,
            "learning_rate": 1e-3, "show_progress": False,
            "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full"},
        },
    )  # fmt: skip
    init_seed(config["seed"], config["reproducibility"])
    start = time.perf_counter()
    dataset = create_dataset(config)
    train_data, _, _ = data_preparation(config, dataset)
    prepare_seconds = time.perf_counter() - start
    model = RecBoleSASRec(config, train_data.dataset)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["learning_rate"])
    model.train()
    step_seconds: list[float] = []
    start = time.perf_counter()
    for i, interaction in enumerate(train_data):
        if i == batches:
            break
        optimizer.zero_grad()
        loss = model.calculate_loss(interaction)
        loss.backward()
        optimizer.step()
        now = time.perf_counter()
        step_seconds.append(now - start)
        start = now
    print(json.dumps({
        "recbole_version": recbole.__version__, "prepare_seconds": prepare_seconds,
        "batches_per_epoch": len(train_data), "samples_per_epoch": len(train_data.dataset),
        "step_seconds": step_seconds, "batch_size": RECBOLE_BATCH,
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-1m")
    parser.add_argument("--batches", type=int, default=40, help="RecBole batches to time")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--recbole-python", default=os.environ.get("RECBENCH_RECBOLE_PYTHON"))
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        recbole_worker(args.worker, args.dataset, args.batches, args.threads)
        return
    if not args.recbole_python or not Path(args.recbole_python).exists():
        sys.exit(
            "perf/sasrec_recbole.py: no RecBole interpreter; pass --recbole-python PATH or set "
            "RECBENCH_RECBOLE_PYTHON to the python of a venv with recbole==1.2.1 (see this "
            "script's docstring for the install lines)"
        )

    import torch

    print(f"machine: {os.cpu_count()} cores, {args.threads} torch threads each side, torch "
          f"{torch.__version__}, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        sizes = write_atomic(args.dataset, Path(tmp))
        print(f"{args.dataset}: {sizes}")
        worker = subprocess.run(
            [args.recbole_python, __file__, "--worker", tmp, "--dataset", args.dataset,
             "--batches", str(args.batches), "--threads", str(args.threads)],
            capture_output=True, text=True, cwd=tmp, check=False,
        )  # fmt: skip
        if worker.returncode != 0:
            sys.exit(f"RecBole worker failed:\n{worker.stderr[-4000:]}")
        rb = json.loads(worker.stdout.strip().splitlines()[-1])
    ours = time_ours(args.dataset, args.threads)

    steps = rb["step_seconds"][1:]  # the first step includes the loader's start-up
    per_batch = sum(steps) / len(steps)
    rb_epoch = per_batch * rb["batches_per_epoch"]
    print(f"RecBole {rb['recbole_version']}: data preparation {rb['prepare_seconds']:.1f} s; "
          f"{rb['samples_per_epoch']:,} training prefixes in {rb['batches_per_epoch']} batches "
          f"of {rb['batch_size']}; {per_batch:.3f} s per batch over {len(steps)} timed "
          f"batches -> {rb_epoch:.0f} s per epoch (extrapolated)")  # fmt: skip
    print(f"ours: {ours['train_positions']:,} training positions in {ours['windows']:,} "
          f"windows, batches of {ours['batch_size']}; one epoch "
          f"{ours['epoch_train_seconds']:.1f} s of training "
          f"({ours['fit_seconds_with_validation']:.1f} s with validation)")  # fmt: skip
    print(f"ratio, RecBole epoch / our epoch (same training positions, same threads): "
          f"{rb_epoch / ours['epoch_train_seconds']:.1f}x")  # fmt: skip
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
