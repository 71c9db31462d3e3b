import numpy as np
import pandas as pd
import pytest

from benchmark.data.schema import build_dataset
from benchmark.errors import ResultsError
from tasks.sampling import load_or_sample, sample_candidates


def seqs_and_targets(n_users=30, n_items=200, seed=1):
    rng = np.random.default_rng(seed)
    seqs = [rng.choice(np.arange(1, n_items + 1), size=rng.integers(3, 60), replace=False)
            for _ in range(n_users)]
    return seqs, np.array([s[-1] for s in seqs])


def test_negatives_never_interacted_and_unique():
    seqs, targets = seqs_and_targets()
    cands, col = sample_candidates(seqs, targets, 200, 99, seed=3, task_name="topn")
    assert cands.shape == (30, 100)
    for row, c, seq, t in zip(cands, col, seqs, targets):
        assert row[c] == t
        negatives = np.delete(row, c)
        assert len(set(negatives.tolist())) == 99
        assert not set(negatives.tolist()) & set(seq.tolist())
        assert negatives.min() >= 1 and negatives.max() <= 200


def test_same_seed_same_sample_other_seed_other_sample():
    seqs, targets = seqs_and_targets()
    a = sample_candidates(seqs, targets, 200, 19, seed=0, task_name="rerank")
    b = sample_candidates(seqs, targets, 200, 19, seed=0, task_name="rerank")
    c = sample_candidates(seqs, targets, 200, 19, seed=1, task_name="rerank")
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_positive_position_is_shuffled():
    seqs, targets = seqs_and_targets(n_users=200)
    _, col = sample_candidates(seqs, targets, 200, 19, seed=0, task_name="rerank")
    assert len(set(col.tolist())) > 10


def test_too_few_items_is_a_clear_error():
    seqs = [np.arange(1, 9)]
    with pytest.raises(ResultsError, match="fewer than 5 negatives"):
        sample_candidates(seqs, np.array([8]), 10, 5, seed=0, task_name="t")


def test_persisted_sample_is_reused_and_hash_checked(tmp_path):
    seqs, targets = seqs_and_targets()
    users = np.arange(30)
    path = tmp_path / "cands.npz"
    kw = dict(users=users, sequences=seqs, targets=targets, n_items=200, n_negatives=9,
              task_name="t")
    first = load_or_sample(path, content_hash="abc", seed=0, **kw)
    # a different seed would sample differently, but the persisted file wins
    again = load_or_sample(path, content_hash="abc", seed=5, **kw)
    assert np.array_equal(first[0], again[0])
    with pytest.raises(ResultsError, match="content hash"):
        load_or_sample(path, content_hash="other", seed=0, **kw)


def test_prompt_and_user_variants_rank_the_base_task_lists():
    from tasks.base import parse_variant
    from tasks.ranking import TOPN, build_requests, candidate_key
    from tasks.split import leave_one_out

    assert candidate_key("topn+prompt=unseen") == "topn"
    assert candidate_key("rerank+eval_users=20") == "rerank"
    assert candidate_key("topn+n_negatives=49+prompt=unseen") == "topn+n_negatives=49"
    rng = np.random.default_rng(3)
    rows = [(u, int(i), t) for u in range(30) for t, i in enumerate(rng.choice(200, 8, False))]
    f = pd.DataFrame(rows, columns=["u", "i", "t"])
    split = leave_one_out(build_dataset(name="t", source="m", content_hash="h", format="x",
                                        users=f.u, items=f.i, timestamps=f.t))
    base = build_requests(TOPN, split, seed=1)
    for name in ("topn+prompt=unseen", "topn+n_negatives=49"):
        variant = build_requests(TOPN.with_options(parse_variant(name)[1]), split, seed=1)
        same = np.array_equal(base.candidates, variant.candidates)
        assert same == (name == "topn+prompt=unseen")


def test_a_sample_written_meanwhile_by_a_parallel_run_wins(tmp_path, monkeypatch):
    import tasks.sampling

    seqs, targets = seqs_and_targets()
    path = tmp_path / "cands.npz"
    kw = dict(users=np.arange(30), sequences=seqs, targets=targets, n_items=200, n_negatives=9,
              task_name="t", content_hash="abc")
    theirs = load_or_sample(tmp_path / "theirs.npz", seed=7, **kw)
    real = tasks.sampling.sample_candidates

    def racing(*args, **kwargs):  # the other run finishes its file while this one samples
        path.write_bytes((tmp_path / "theirs.npz").read_bytes())
        return real(*args, **kwargs)

    monkeypatch.setattr(tasks.sampling, "sample_candidates", racing)
    mine = load_or_sample(path, seed=0, **kw)
    assert np.array_equal(mine[0], theirs[0]) and np.array_equal(mine[1], theirs[1])
    assert path.read_bytes() == (tmp_path / "theirs.npz").read_bytes()
