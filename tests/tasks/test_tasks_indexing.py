import numpy as np
import pandas as pd
import pytest

from benchmark.data.schema import build_dataset
from benchmark.errors import ConfigError
from tasks.indexing import reindex
from tasks.leak import leak_audit
from tasks.split import leave_one_out


def p5_like(n_users=300):
    # items numbered by first appearance along user timelines: the P5 leak
    users, items, ts = [], [], []
    next_id = 1
    rng = np.random.default_rng(0)
    for u in range(n_users):
        for t in range(5):
            if rng.random() < 0.7 or next_id == 1:
                item, next_id = next_id, next_id + 1
            else:
                item = int(rng.integers(1, next_id))
            users.append(u)
            items.append(item)
            ts.append(t)
    return build_dataset(name="p5like", source="mem", content_hash="h", format="test",
                         users=pd.Series(users), items=pd.Series(items),
                         timestamps=pd.Series(ts))


def test_original_keeps_shipped_numeric_ids():
    ds = p5_like()
    assert reindex(ds, "original", 0) is ds
    assert ds.items["raw_id"].astype(int).tolist() == list(range(1, ds.n_items + 1))


def test_random_ids_remove_the_leak_and_keep_structure():
    ds = p5_like()
    before = leak_audit(leave_one_out(ds))["test_max_id_plus_one"]
    shuffled = reindex(ds, "random", 0)
    after = leak_audit(leave_one_out(shuffled))["test_max_id_plus_one"]
    assert before > 0.4
    assert after < 0.05
    # same interactions, renamed: raw ids follow their items
    old = ds.items.set_index("item")["raw_id"]
    new = shuffled.items.set_index("item")["raw_id"]
    assert [old[i] for i in ds.interactions["item"]] == [
        new[i] for i in shuffled.interactions["item"]
    ]
    assert sorted(shuffled.items["item"]) == list(range(1, ds.n_items + 1))
    assert not np.array_equal(reindex(ds, "random", 1).interactions["item"],
                              shuffled.interactions["item"])


def test_unknown_indexing():
    with pytest.raises(ConfigError, match="unknown id indexing"):
        reindex(p5_like(5), "sorted", 0)
