"""SASRec: determinism, score shape, causality, test-target isolation, BCE, and real quality."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from cycle_data import cycle_dataset
from guards import dies_on_call

from benchmark.data.schema import Dataset, build_dataset
from benchmark.errors import ConfigError
from benchmark.metrics.ranking import metric_vectors, rank_full_catalogue
from methods.base import FitContext
from methods.sasrec import SASRec, SASRecNet
from methods.sequences import training_windows
from tasks.split import Split, leave_one_out

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "ml100k_slice.inter"
TINY = {
    "hidden": 16,
    "n_layers": 1,
    "n_heads": 2,
    "inner": 32,
    "max_len": 8,
    "batch_size": 16,
    "max_epochs": 3,
    "patience": 3,
}
_TIMING_KEYS = ("seconds_per_epoch", "fit_seconds", "train_positions_per_second")


def _fit(dataset: Dataset, split: Split | None = None, seed: int = 0, **params) -> SASRec:
    model = SASRec(**{**TINY, **params})
    split = split if split is not None else leave_one_out(dataset)
    model.fit(FitContext(dataset=dataset, split=split, seed=seed, show_progress=False))
    return model


def _test_ndcg(score_all, split: Split) -> float:
    ranks = rank_full_catalogue(score_all, split.users, split.histories("test"), split.test)
    return float(metric_vectors(ranks, ["ndcg@10"])["ndcg@10"].mean())


def test_windows_cover_every_position_once_right_aligned() -> None:
    seqs = [np.arange(1, 13), np.array([5, 6]), np.array([9])]
    inputs, labels, owner = training_windows(seqs, max_len=5)
    # 11 input positions -> 3 windows; 1 -> 1; a single item has no (input, label) pair
    assert owner.tolist() == [0, 0, 0, 1]
    assert inputs[0].tolist() == [7, 8, 9, 10, 11] and labels[0].tolist() == [8, 9, 10, 11, 12]
    assert inputs[2].tolist() == [0, 0, 0, 0, 1] and labels[2].tolist() == [0, 0, 0, 0, 2]
    assert inputs[3].tolist() == [0, 0, 0, 0, 5] and labels[3].tolist() == [0, 0, 0, 0, 6]
    assert sorted(labels[owner == 0][labels[owner == 0] != 0].tolist()) == list(range(2, 13))


def test_same_seed_same_scores() -> None:
    data = cycle_dataset()
    split = leave_one_out(data)
    a, b = _fit(data, seed=3), _fit(data, seed=3)
    hist = split.histories("valid")
    assert torch.equal(a.score_all(split.users, hist), b.score_all(split.users, hist))
    untimed = [{k: v for k, v in m.fit_info.items() if k not in _TIMING_KEYS} for m in (a, b)]
    assert untimed[0] == untimed[1]
    c = _fit(data, seed=4)
    assert not torch.equal(a.score_all(split.users, hist), c.score_all(split.users, hist))


def test_score_all_shape_and_padding_column_ignored() -> None:
    data = cycle_dataset()
    split = leave_one_out(data)
    model = _fit(data, max_epochs=1)
    hist = split.histories("valid")
    # histories longer and shorter than max_len, and an empty one
    hist = [*hist[:3], np.arange(1, 25), np.empty(0, dtype=np.int64)]
    users = np.arange(len(hist))
    scores = model.score_all(users, hist)
    assert scores.shape == (len(hist), data.n_items + 1)
    assert torch.isfinite(scores[:, 1:]).all()
    assert torch.isneginf(scores[:, 0]).all()

    def huge_padding(u: np.ndarray, h: list[np.ndarray]) -> torch.Tensor:
        s = model.score_all(u, h).clone()
        s[:, 0] = 1e9
        return s

    targets = split.valid
    base = rank_full_catalogue(model.score_all, split.users, split.train, targets)
    moved = rank_full_catalogue(huge_padding, split.users, split.train, targets)
    assert np.array_equal(base, moved)


def test_earlier_positions_do_not_see_later_items() -> None:
    torch.manual_seed(0)
    net = SASRecNet(n_items=20, hidden=16, n_layers=2, n_heads=2, inner=32, max_len=10, dropout=0.0)
    net.eval()
    x = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8, 9, 10], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]])
    changed = x.clone()
    changed[:, 6] = 17
    with torch.no_grad():
        a, b = net(x), net(changed)
    assert torch.allclose(a[:, :6], b[:, :6], atol=1e-6)
    assert not torch.allclose(a[:, 6:], b[:, 6:], atol=1e-4)
    # real positions ignore padding ones: perturbing what padding positions hold changes nothing
    padded = torch.tensor([[0, 0, 0, 0, 5, 6, 7, 8, 9, 10]])
    with torch.no_grad():
        c = net(padded)
        net.pos_emb.weight[:4] += torch.randn(4, 16)
        d = net(padded)
    assert torch.allclose(c[:, 4:], d[:, 4:], atol=1e-6)
    assert not torch.allclose(c[:, :4], d[:, :4], atol=1e-4)


class _Forbidden:
    """Stands in for ``split.test``: any use fails the test."""

    def __getattr__(self, name: str):
        raise AssertionError(f"fit read split.test ({name})")

    def __getitem__(self, key):
        raise AssertionError("fit read split.test")

    def __len__(self) -> int:
        raise AssertionError("fit read split.test")

    def __iter__(self):
        raise AssertionError("fit read split.test")

    def __array__(self, *args, **kwargs):
        raise AssertionError("fit read split.test")


def test_fit_never_reads_test_targets() -> None:
    data = cycle_dataset()
    split = leave_one_out(data)
    hidden = Split(
        users=split.users,
        train=split.train,
        valid=split.valid,
        test=_Forbidden(),  # type: ignore[arg-type]
        n_items=split.n_items,
        n_dropped=split.n_dropped,
    )
    blind = _fit(data, split=hidden, max_epochs=2)
    seen = _fit(data, split=split, max_epochs=2)
    for (name, w1), (_, w2) in zip(
        blind.net.state_dict().items(), seen.net.state_dict().items(), strict=True
    ):
        assert torch.equal(w1, w2), name


def test_bce_loss_trains() -> None:
    data = cycle_dataset()
    split = leave_one_out(data)
    model = _fit(data, loss="bce", max_epochs=40, patience=40, batch_size=8)
    info = model.fit_info
    assert info["epochs"] == 40 and 1 <= info["best_epoch"] <= 40
    # random scores give ~0.1 on 30 items minus 12 masked; the cycle is easy to learn
    assert info["best_valid_ndcg@10"] > 0.6
    assert torch.isfinite(model.score_all(split.users, split.train)[:, 1:]).all()


def test_bad_loss_rejected() -> None:
    with pytest.raises(ConfigError, match="method_params.sasrec.loss: 'hinge' is not one of"):
        SASRec(loss="hinge")


def _load_slice() -> Dataset:
    raw = FIXTURE.read_bytes()
    frame = pd.read_csv(FIXTURE, sep="\t")
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return build_dataset(
        name="ml100k-slice",
        source=str(FIXTURE),
        content_hash=hashlib.sha256(raw).hexdigest(),
        format="atomic",
        users=frame["user_id"],
        items=frame["item_id"],
        timestamps=frame["timestamp"],
    )


def test_beats_popularity_on_real_slice() -> None:
    data = _load_slice()
    split = leave_one_out(data)
    assert split.n_users > 250

    _, train_items = split.train_interactions()
    counts = torch.as_tensor(
        np.bincount(train_items, minlength=split.n_items + 1), dtype=torch.float32
    )

    def popularity(users: np.ndarray, histories: list[np.ndarray]) -> torch.Tensor:
        return counts.expand(len(users), -1)

    model = SASRec(max_epochs=12, patience=3)
    model.fit(FitContext(dataset=data, split=split, seed=0, show_progress=False))
    pop, sas = _test_ndcg(popularity, split), _test_ndcg(model.score_all, split)
    assert sas > pop, (sas, pop)


class _Killed(Exception):
    """Stands in for a kill (Ctrl-C, a pre-empted node) in the middle of an epoch."""


def test_a_killed_fit_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch) -> None:
    import methods.training as training
    from methods.checkpoint import EpochCheckpoint

    data = cycle_dataset()
    split = leave_one_out(data)
    params = {**TINY, "max_epochs": 4, "patience": None, "dropout": 0.2}
    whole = _fit(data, split, **params)
    expected = whole.score_all(split.users, split.histories("test"))

    checkpoint = EpochCheckpoint(tmp_path / "fits" / "sasrec-seed0.pt")
    real = training.valid_ndcg
    monkeypatch.setattr(training, "valid_ndcg", dies_on_call(real, 3, _Killed()))  # in epoch 3
    ctx = FitContext(dataset=data, split=split, seed=0, show_progress=False,
                     checkpoint=checkpoint)  # fmt: skip
    with pytest.raises(_Killed):
        SASRec(**params).fit(ctx)
    assert checkpoint.load()["epoch"] == 2  # the last complete epoch
    monkeypatch.setattr(training, "valid_ndcg", real)
    resumed = SASRec(**params)
    resumed.fit(ctx)
    info, full = resumed.fit_info, whole.fit_info
    assert info["resumed_from_epoch"] == 2 and "resumed_from_epoch" not in full
    assert info["history"] == full["history"]  # same losses and validation, epoch by epoch
    assert (info["epochs"], info["best_epoch"]) == (full["epochs"], full["best_epoch"])
    assert torch.equal(resumed.score_all(split.users, split.histories("test")), expected)


def test_the_fit_says_why_it_stopped() -> None:
    data = cycle_dataset()
    info = _fit(data, max_epochs=2, patience=None).fit_info
    assert info["stop_reason"] == "cap" and info["patience"] is None
    assert info["improving_at_cap"]  # no early stopping: nothing showed it had converged
