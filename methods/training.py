"""The epoch loop of the methods that train with early stopping (SASRec, UEM, the P5 family).

Each of them trains an epoch, scores the validation users, keeps the best epoch's weights and
stops after ``patience`` epochs without improvement, then restores the best epoch. Written
once here so that the methods cannot drift apart in how an epoch is selected:

- ``valid_ndcg``: NDCG@10 of the validation targets over the full catalogue, history masked
  (every method's selection score; the P5 family scores a seeded subset of users).
- ``train_epochs``: the loop, early stopping (``methods.early_stopping``) and the restore,
  around a method's own ``run_epoch``. The P5 family uses it directly (its epochs re-draw
  text samples and take turns between task families).
- ``fit_windows``: ``train_epochs`` with the epoch of the causal sequence models (SASRec,
  UEM): minibatches of ``methods.sequences.training_windows`` in a fresh seeded order, one
  optimiser step each, validated on all users.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from benchmark.metrics.ranking import ScoreAll, metric_vectors, rank_full_catalogue
from methods.checkpoint import EpochCheckpoint, global_rng_state, set_global_rng_state
from methods.early_stopping import EarlyStopping
from tasks.split import Split


def valid_ndcg(
    score_all: ScoreAll,
    users: np.ndarray,
    histories: list[np.ndarray],
    targets: np.ndarray,
    batch_size: int,
) -> float:
    """Mean NDCG@10 of ``targets`` ranked in the full catalogue, each history masked."""
    ranks = rank_full_catalogue(
        score_all, users, histories, targets, mask_history=True, batch_size=batch_size
    )
    return float(metric_vectors(ranks, ["ndcg@10"])["ndcg@10"].mean())


def train_epochs(
    max_epochs: int,
    patience: int | None,
    run_epoch: Callable[[int], float],
    snapshot: Callable[[], Any],
    restore: Callable[[Any], Any],
    *,
    checkpoint: EpochCheckpoint | None = None,
    training_state: Callable[[], dict[str, Any]] | None = None,
    load_training_state: Callable[[dict[str, Any]], None] | None = None,
    time_limit: float | None = None,
) -> EarlyStopping:
    """Call ``run_epoch(epoch)`` (train one epoch, return its validation score, higher is
    better) for epochs 1..``max_epochs`` until ``patience`` epochs bring no improvement, then
    ``restore`` the best epoch's ``snapshot()``. The returned stopper says which epoch that was
    (``best_epoch``, ``best``), how many ran (``epochs``), why it stopped (``stop_reason``) and
    whether the cap stopped it before early stopping could (``improving_at_cap``).

    With a ``checkpoint``, the state after each epoch (``training_state()``, the stopper, the
    global random states) is saved, and a checkpoint found at the start is loaded
    (``load_training_state``) and the loop continues after its epoch: given the same setup, the
    fit ends as an uninterrupted one would (``stopper.resumed_from`` says where it picked up).
    ``time_limit`` (seconds of epochs, over all sittings) ends the fit after the epoch that
    reaches it (``stop_reason`` "time limit").
    """
    stopper = EarlyStopping(patience)
    first, stopped = 1, False
    if checkpoint is not None:
        if training_state is None or load_training_state is None:
            raise ValueError("a checkpoint needs training_state and load_training_state")
        saved = checkpoint.load()
        if saved is not None:
            load_training_state(saved["method"])
            stopper.load_state_dict(saved["stopper"])
            set_global_rng_state(saved["rng"])
            first, stopped = saved["epoch"] + 1, saved["stopped"]
            stopper.resumed_from = saved["epoch"]
            stopper.earlier_seconds = stopper.elapsed
    for epoch in range(first, max_epochs + 1):
        if stopped:
            break
        t0 = time.perf_counter()
        score = run_epoch(epoch)
        stopper.elapsed += time.perf_counter() - t0
        stopped = stopper.step(epoch, score, snapshot)
        if not stopped and time_limit is not None and stopper.elapsed >= time_limit:
            stopper.timed_out = stopped = True
        if checkpoint is not None:
            assert training_state is not None
            checkpoint.save({"epoch": epoch, "stopped": stopped, "method": training_state(),
                             "stopper": stopper.state_dict(), "rng": global_rng_state()})
    if stopper.best_state is not None:
        restore(stopper.best_state)
    return stopper


def stop_info(stopper: EarlyStopping) -> dict[str, Any]:
    """The ``fit_info`` entries of every epoch-trained method about how its fit ended."""
    return {
        "epochs": stopper.epochs,
        "patience": stopper.patience,
        "stop_reason": stopper.stop_reason,
        "improving_at_cap": stopper.improving_at_cap,
        "stopped_early": stopper.stopped_early,
        "best_epoch": stopper.best_epoch,
        **({"resumed_from_epoch": stopper.resumed_from,
            "seconds_in_earlier_sittings": stopper.earlier_seconds}
           if stopper.resumed_from else {}),
    }


def earlier_sittings_seconds(fit_info: dict[str, Any] | None) -> float:
    """Seconds of epochs a resumed fit ran before this process picked it up, over the fit and
    its stages (``fit_info`` and any nested dict, such as P2Rec's ``stage0``-``stage2``): what
    the runner adds to this process's fit time, so that a resumed fit's cost is not understated.
    """
    if not isinstance(fit_info, dict):
        return 0.0
    own = float(fit_info.get("seconds_in_earlier_sittings") or 0.0)
    return own + sum(earlier_sittings_seconds(v) for v in fit_info.values() if isinstance(v, dict))


@dataclass
class WindowTraining:
    """What ``fit_windows`` measured, for the method's ``fit_info``."""

    stopper: EarlyStopping
    #: per epoch: ``epoch``, ``loss`` (mean over the training positions), ``valid_ndcg@10``
    history: list[dict[str, float]]
    #: per epoch, training plus validation
    epoch_seconds: list[float]
    #: all epochs, training only
    train_seconds: float

    def summary(self) -> dict[str, Any]:
        """The ``fit_info`` entries every window-trained method reports: the epochs run and
        selected, why it stopped, and their time (over all sittings of a resumed fit)."""
        seconds = self.epoch_seconds
        return {
            **stop_info(self.stopper),
            "best_valid_ndcg@10": self.stopper.best,
            "seconds_per_epoch": float(np.mean(seconds)) if seconds else 0.0,
            "fit_seconds": float(sum(seconds)),
        }


def fit_windows(
    name: str,
    net: nn.Module,
    optim: torch.optim.Optimizer,
    batch_loss: Callable[[np.ndarray], tuple[torch.Tensor, int]],
    score_all: ScoreAll,
    split: Split,
    *,
    params: Mapping[str, Any],
    n_windows: int,
    n_positions: int,
    rng: np.random.Generator,
    show_progress: bool,
    checkpoint: EpochCheckpoint | None = None,
) -> WindowTraining:
    """Train ``net`` on ``n_windows`` training windows with early stopping on validation
    NDCG@10 (all users, ``score_all``), restore the best epoch and leave ``net`` in eval mode.

    ``params`` are the method's: ``batch_size``, ``eval_batch_size``, ``max_epochs`` and
    ``patience``. Each epoch draws a permutation from ``rng`` and takes one ``optim`` step per
    ``batch_size`` rows of it; ``batch_loss(rows)`` returns the batch's mean loss and the number
    of positions it averages over (the weight of the batch in the epoch's reported loss).
    With a ``checkpoint`` each epoch's state is saved and a killed fit resumes from it.
    """
    batch_size, eval_batch_size = params["batch_size"], params["eval_batch_size"]
    valid_hist = split.histories("valid")
    history: list[dict[str, float]] = []
    epoch_seconds: list[float] = []
    train_seconds = 0.0

    def run_epoch(epoch: int) -> float:
        nonlocal train_seconds
        t0 = time.perf_counter()
        net.train()
        order = rng.permutation(n_windows)
        bar = tqdm(range(0, len(order), batch_size), desc=f"{name} epoch {epoch}", leave=False,
                   disable=not show_progress)  # fmt: skip
        total = 0.0
        for start in bar:
            loss, n = batch_loss(order[start : start + batch_size])
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            value = loss.detach().item()
            total += value * n
            bar.set_postfix(loss=f"{value:.4f}")
        train_seconds += time.perf_counter() - t0
        ndcg = valid_ndcg(score_all, split.users, valid_hist, split.valid, eval_batch_size)
        epoch_seconds.append(time.perf_counter() - t0)
        history.append({"epoch": epoch, "loss": total / max(n_positions, 1),
                        "valid_ndcg@10": ndcg})  # fmt: skip
        if show_progress:
            tqdm.write(
                f"{name} epoch {epoch}: loss {history[-1]['loss']:.4f} "
                f"valid ndcg@10 {ndcg:.4f} ({epoch_seconds[-1]:.1f}s)"
            )
        return ndcg

    def training_state() -> dict[str, Any]:
        return {"net": net.state_dict(), "optim": optim.state_dict(),
                "rng": rng.bit_generator.state, "history": history,
                "epoch_seconds": epoch_seconds, "train_seconds": train_seconds}  # fmt: skip

    def load_training_state(state: dict[str, Any]) -> None:
        nonlocal train_seconds
        net.load_state_dict(state["net"])
        optim.load_state_dict(state["optim"])
        rng.bit_generator.state = state["rng"]
        history[:], epoch_seconds[:] = state["history"], state["epoch_seconds"]
        train_seconds = state["train_seconds"]

    stopper = train_epochs(
        params["max_epochs"],
        params["patience"],
        run_epoch,
        lambda: copy.deepcopy(net.state_dict()),
        net.load_state_dict,
        checkpoint=checkpoint,
        training_state=training_state,
        load_training_state=load_training_state,
    )
    net.eval()
    return WindowTraining(stopper, history, epoch_seconds, train_seconds)
