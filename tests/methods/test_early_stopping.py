"""Epoch selection: best snapshot kept, ties keep the earlier epoch, patience counts from it."""

from methods.early_stopping import EarlyStopping


def test_keeps_best_and_stops_after_patience() -> None:
    stopper = EarlyStopping(patience=2)
    scores = [0.1, 0.3, 0.3, 0.2, 0.5]
    stops = []
    for epoch, score in enumerate(scores, start=1):
        stops.append(stopper.step(epoch, score, lambda e=epoch: f"w{e}"))
        if stops[-1]:
            break
    assert stops == [False, False, False, True]  # the tie at epoch 3 is no improvement
    assert stopper.best == 0.3 and stopper.best_epoch == 2 and stopper.best_state == "w2"
    assert stopper.stopped_early


def test_no_patience_never_stops() -> None:
    stopper = EarlyStopping(patience=None)
    assert not any(stopper.step(e, 1.0 / e, lambda: None) for e in range(1, 20))
    assert stopper.best_epoch == 1 and not stopper.stopped_early
