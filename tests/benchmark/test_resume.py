"""``benchmark.resume``: which recorded parameters a changed default has moved."""

from benchmark.resume import changed_params


def test_changed_params_names_only_values_that_moved():
    recorded = {"lr": 0.001, "pooling": "last", "layers": [64, 64]}
    now = {"lr": 0.001, "pooling": "mean", "layers": (64, 64)}
    assert changed_params(recorded, now) == {"pooling": ("last", "mean")}


def test_params_gained_or_dropped_are_not_changes():
    assert changed_params({"old_knob": 1, "lr": 1}, {"lr": 1, "new_knob": 2}) == {}


def test_a_record_without_params_has_nothing_to_compare():
    assert changed_params(None, {"lr": 1}) == {}
    assert changed_params("garbled", {"lr": 1}) == {}
