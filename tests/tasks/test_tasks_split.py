import numpy as np
import pandas as pd

from benchmark.data.schema import build_dataset
from tasks.leak import leak_audit
from tasks.split import leave_one_out


def make_dataset(rows):
    frame = pd.DataFrame(rows, columns=["user", "item", "ts"])
    return build_dataset(
        name="toy", source="mem", content_hash="h", format="test",
        users=frame["user"], items=frame["item"], timestamps=frame["ts"],
    )


def test_leave_one_out_uses_chronology_and_row_order_for_ties():
    ds = make_dataset([
        ("u1", 10, 5), ("u1", 11, 1), ("u1", 12, 3), ("u1", 13, 3),  # 12 and 13 tie: file order
        ("u2", 10, 1), ("u2", 11, 2),  # too short: dropped
        ("u3", 12, 9), ("u3", 11, 8), ("u3", 10, 7),
    ])
    split = leave_one_out(ds)
    assert split.n_dropped == 1
    assert split.n_users == 2
    raw = {i + 1: r for i, r in enumerate(ds.items["raw_id"])}
    u1 = 0
    assert [raw[i] for i in split.train[u1]] == ["11", "12"]
    assert raw[split.valid[u1]] == "13"
    assert raw[split.test[u1]] == "10"
    assert [raw[i] for i in split.histories("test")[u1]] == ["11", "12", "13"]


def test_split_parts_partition_each_sequence():
    ds = make_dataset([(u, i, t) for u in range(5) for t, i in enumerate(range(u, u + 4 + u))])
    split = leave_one_out(ds)
    seqs = ds.sequences()
    for k, user in enumerate(split.users):
        rebuilt = np.append(split.histories("test")[k], split.test[k])
        assert np.array_equal(rebuilt, seqs[user])


def test_leak_audit_counts_max_plus_one():
    ds = make_dataset([
        ("a", 1, 1), ("a", 2, 2), ("a", 3, 3), ("a", 4, 4),  # test 4 = max(1,2,3) + 1
        ("b", 5, 1), ("b", 1, 2), ("b", 3, 3), ("b", 2, 4),  # test 2, max 5: no
    ])
    audit = leak_audit(leave_one_out(ds))
    assert audit["test_max_id_plus_one"] == 0.5
    assert audit["valid_max_id_plus_one"] == 0.5  # a: 3 = 2 + 1; b: 3 != 6
