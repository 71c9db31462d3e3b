import math

import numpy as np
import pytest
import torch

from benchmark.metrics import (
    metric_vectors,
    parse_metric,
    rank_full_catalogue,
    ranking,
    target_ranks,
)


def test_rank_counts_strictly_higher_scores():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.3]])
    assert target_ranks(scores, torch.tensor([2])).tolist() == [2]
    assert target_ranks(scores, torch.tensor([1])).tolist() == [1]
    assert target_ranks(scores, torch.tensor([0])).tolist() == [4]


def test_ties_are_pessimistic():
    # target (col 0) ties with two others and is beaten by one: rank 1 + 1 + 2 = 4
    scores = torch.tensor([[0.5, 0.5, 0.9, 0.5, 0.1]])
    assert target_ranks(scores, torch.tensor([0])).tolist() == [4]


def test_constant_scorer_ranks_every_target_last():
    scores = torch.zeros(3, 50)
    ranks = target_ranks(scores, torch.tensor([0, 17, 49]))
    assert ranks.tolist() == [50, 50, 50]
    vec = metric_vectors(ranks, ["hr@10", "ndcg@10", "mrr@10"])
    assert all(v.sum() == 0 for v in vec.values())


def test_nan_target_ranks_last():
    scores = torch.tensor([[float("nan"), 0.2, 0.3]])
    assert target_ranks(scores, torch.tensor([0])).tolist() == [3]


def test_metric_values_by_hand():
    ranks = np.array([1, 2, 5, 10, 11])
    v = metric_vectors(ranks, ["hr@1", "hr@5", "hr@10", "ndcg@5", "ndcg@10", "mrr@10"])
    assert v["hr@1"].tolist() == [1, 0, 0, 0, 0]
    assert v["hr@5"].tolist() == [1, 1, 1, 0, 0]
    assert v["hr@10"].tolist() == [1, 1, 1, 1, 0]
    expected = [1.0, 1 / math.log2(3), 1 / math.log2(6), 0, 0]
    np.testing.assert_allclose(v["ndcg@5"], expected)
    np.testing.assert_allclose(v["ndcg@10"], expected[:3] + [1 / math.log2(11), 0])
    np.testing.assert_allclose(v["mrr@10"], [1, 0.5, 0.2, 0.1, 0])


@pytest.mark.parametrize("bad", ["hr10", "map@10", "ndcg@0", "ndcg@x", "@5"])
def test_parse_metric_rejects(bad):
    with pytest.raises(ValueError, match="expected one of"):
        parse_metric(bad)


def test_full_catalogue_masks_history_and_padding():
    n_items = 6

    def score_all(users, histories):
        # item i scores i: item 6 best; padding column 0 would be worst anyway but give it max
        s = torch.arange(n_items + 1, dtype=torch.float32).repeat(len(users), 1)
        s[:, 0] = 100.0
        return s

    users = np.array([0, 1])
    histories = [np.array([6, 5]), np.array([1])]
    targets = np.array([4, 4])
    masked = rank_full_catalogue(score_all, users, histories, targets, mask_history=True)
    # user 0: 6 and 5 masked, padding ignored: target 4 is first
    assert masked.tolist() == [1, 3]
    unmasked = rank_full_catalogue(score_all, users, histories, targets, mask_history=False)
    assert unmasked.tolist() == [3, 3]


def test_full_catalogue_batches_agree():
    rng = np.random.default_rng(0)
    table = torch.as_tensor(rng.random((40, 31)), dtype=torch.float32)

    def score_all(users, histories):
        return table[torch.as_tensor(users)]

    users = np.arange(40)
    hist = [rng.integers(1, 31, size=3) for _ in users]
    targets = rng.integers(1, 31, size=40)
    a = rank_full_catalogue(score_all, users, hist, targets, batch_size=7)
    b = rank_full_catalogue(score_all, users, hist, targets, batch_size=1000)
    assert np.array_equal(a, b)


def _torch_reference_ranks(scores: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
    """The rule written out the slow way: 1 + #{higher} + #{other items tied}; NaN target last."""
    target = scores.gather(1, col[:, None])
    ranks = ((scores > target) | (scores == target)).sum(1)
    return torch.where(torch.isnan(target[:, 0]), scores.shape[1], ranks)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_block_count_equals_the_rule_with_ties_nan_and_inf(monkeypatch, dtype):
    # small blocks, so that rows cross block boundaries; coarse scores, so that ties are common
    monkeypatch.setattr(ranking, "_BLOCK_SCORES", 37)
    gen = torch.Generator().manual_seed(3)
    scores = torch.randint(0, 5, (203, 11), generator=gen).to(torch.float64)
    scores[torch.rand(203, 11, generator=gen) < 0.1] = -math.inf
    scores[torch.rand(203, 11, generator=gen) < 0.05] = math.nan
    scores[5] = -math.inf  # a row where everything, the target too, is excluded
    scores = scores.to(dtype)
    col = torch.randint(0, 11, (203,), generator=gen)
    scores[7, col[7]] = math.nan  # a NaN target
    expected = _torch_reference_ranks(scores, col)
    assert torch.equal(target_ranks(scores, col), expected)
    assert int(target_ranks(scores, col)[5]) == 11 and int(target_ranks(scores, col)[7]) == 11
    # a strided view (the full-catalogue ranking drops the padding column) gives the same ranks
    padded = torch.cat([torch.zeros(203, 1, dtype=dtype), scores], dim=1)
    assert torch.equal(target_ranks(padded[:, 1:], col), expected)


def test_block_count_rejects_out_of_range_targets():
    with pytest.raises(IndexError):
        target_ranks(torch.zeros(2, 3), torch.tensor([0, 3]))
    with pytest.raises(IndexError):
        target_ranks(torch.zeros(2, 3), torch.tensor([-1, 0]))
