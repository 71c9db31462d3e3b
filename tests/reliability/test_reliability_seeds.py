"""Seeds are range-checked and unique in the config (issue 14, point 4): numpy takes
0 <= seed < 2**32, and a seed given twice would run (and be reported) twice."""

from __future__ import annotations

import pytest

from benchmark.config import load_config
from benchmark.errors import ConfigError


@pytest.mark.parametrize("seeds", ["0,-1", "0,4294967296", "0,0"])
def test_bad_seeds_stop_before_anything_is_written(toy_dir, tmp_path, cli, no_fit, seeds):
    res = tmp_path / "res"
    code, err = cli("run", "--methods", "pop", "--datasets", str(toy_dir), "--seeds", seeds,
                    "--results-dir", str(res), "--no-progress")
    assert code == 2 and len(err) == 1
    assert err[0].startswith("error: seeds: ")
    assert not res.exists()


def test_seed_range_ends_below_two_to_the_32():
    assert load_config(None, {"seeds": f"0,{2**32 - 1}"}).seeds == [0, 2**32 - 1]
    with pytest.raises(ConfigError, match="seeds: 4294967296 is out of range"):
        load_config(None, {"seeds": [2**32]})
    with pytest.raises(ConfigError, match="seeds: 3 is given more than once"):
        load_config(None, {"seeds": [3, 1, 3]})
