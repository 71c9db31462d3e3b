"""Leak audit: how often the held-out target is the largest history id + 1.

Under P5's sequential id assignment this share is high, and a model that reads ids as text can
exploit it (Xu et al. 2024, arXiv 2402.06216). Under random ids it should be about 1 / n_items.
"""

from __future__ import annotations

import numpy as np

from tasks.split import Split


def max_id_plus_one_share(histories: list[np.ndarray], targets: np.ndarray) -> float:
    """Share of users whose target equals max(history) + 1 (users with empty history count 0)."""
    if len(targets) == 0:
        return 0.0
    hits = sum(
        1 for h, t in zip(histories, targets) if len(h) and int(t) == int(np.max(h)) + 1
    )
    return hits / len(targets)


def leak_audit(split: Split) -> dict[str, float]:
    """Shares for the validation and the test targets."""
    return {
        "valid_max_id_plus_one": max_id_plus_one_share(split.histories("valid"), split.valid),
        "test_max_id_plus_one": max_id_plus_one_share(split.histories("test"), split.test),
    }
