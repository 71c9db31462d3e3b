"""Fixtures shared across the test folders."""

import numpy as np
import pytest


@pytest.fixture
def toy_dir(tmp_path):
    """A small atomic-format dataset folder: 60 users, about 190 items; each user walks forward
    through the catalogue (so sequence models have something to learn)."""
    rng = np.random.default_rng(0)
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for u in range(60):
        start = int(rng.integers(1, 180))
        for t in range(int(rng.integers(4, 12))):
            lines.append(f"{u}\t{start + t}\t4\t{1000 + t}")
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "toy.inter").write_text("\n".join(lines) + "\n")
    return folder
