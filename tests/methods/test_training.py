"""The shared epoch loop: epochs run, best epoch restored, and the window trainer's records."""

import numpy as np
import torch
from torch import nn

from methods.training import fit_windows, train_epochs
from tasks.split import Split


def test_train_epochs_stops_and_restores_the_best_snapshot() -> None:
    scores = {1: 0.1, 2: 0.4, 3: 0.4, 4: 0.2, 5: 0.9}
    ran, restored = [], []
    stopper = train_epochs(
        10, 2, lambda e: ran.append(e) or scores[e], lambda: f"w{len(ran)}", restored.append
    )
    assert ran == [1, 2, 3, 4]  # the tie at 3 is no improvement; patience 2 ends at 4
    assert restored == ["w2"]
    assert (stopper.epochs, stopper.best_epoch, stopper.best) == (4, 2, 0.4)
    assert stopper.stopped_early


def test_train_epochs_without_epochs_restores_nothing() -> None:
    restored: list[object] = []
    stopper = train_epochs(0, None, lambda e: 1.0, lambda: "w", restored.append)
    assert restored == [] and stopper.epochs == 0 and stopper.best_epoch == 0


def test_fit_windows_records_each_epoch_and_restores_the_best_weights() -> None:
    torch.manual_seed(0)
    n_items = 5
    net = nn.Linear(1, n_items + 1)
    inputs = np.arange(8, dtype=np.float32)[:, None]
    split = Split(users=np.arange(2), train=[np.array([1]), np.array([2])],
                  valid=np.array([3, 4]), test=np.array([5, 1]), n_items=n_items,
                  n_dropped=0)  # fmt: skip
    weights: list[torch.Tensor] = []

    def batch_loss(rows: np.ndarray) -> tuple[torch.Tensor, int]:
        return net(torch.from_numpy(inputs[rows])).pow(2).mean(), len(rows)

    def score_all(users: np.ndarray, histories: list[np.ndarray]) -> torch.Tensor:
        weights.append(net.weight.detach().clone())
        # epoch 2 ranks both validation items first; every other epoch ranks them last
        good = len(weights) == 2
        scores = torch.zeros(len(users), n_items + 1)
        scores[torch.arange(len(users)), torch.as_tensor(split.valid)] = 1.0 if good else -1.0
        return scores

    run = fit_windows(
        "toy", net, torch.optim.SGD(net.parameters(), lr=0.1), batch_loss, score_all, split,
        params={"batch_size": 3, "eval_batch_size": 4, "max_epochs": 6, "patience": 2},
        n_windows=len(inputs), n_positions=len(inputs), rng=np.random.default_rng(0),
        show_progress=False,
    )  # fmt: skip
    assert [h["epoch"] for h in run.history] == [1, 2, 3, 4]
    assert run.history[1]["valid_ndcg@10"] == 1.0 > run.history[0]["valid_ndcg@10"]
    assert (run.stopper.epochs, run.stopper.best_epoch) == (4, 2)
    assert len(run.epoch_seconds) == 4 and run.train_seconds > 0
    info = run.summary()
    assert (info["epochs"], info["best_epoch"], info["stopped_early"]) == (4, 2, True)
    assert info["fit_seconds"] == sum(run.epoch_seconds)
    assert torch.equal(net.weight, weights[1]) and not net.training


def test_a_time_limit_ends_the_fit_after_the_epoch_that_reaches_it() -> None:
    ran: list[int] = []
    stopper = train_epochs(10, None, lambda e: ran.append(e) or float(e), lambda: len(ran),
                           lambda state: None, time_limit=1e-9)  # fmt: skip
    assert ran == [1] and stopper.stop_reason == "time limit"
    assert stopper.improving_at_cap  # its best epoch is its last: the budget, not the method
    assert stopper.elapsed > 0
    capped = train_epochs(3, 2, lambda e: 1.0 / e, lambda: None, lambda state: None)
    assert capped.stop_reason == "patience" and not capped.improving_at_cap
    unruled = train_epochs(3, None, lambda e: 1.0 / e, lambda: None, lambda state: None)
    assert unruled.stop_reason == "cap" and unruled.improving_at_cap  # no rule ever checked
