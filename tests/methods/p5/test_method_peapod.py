"""PeaPOD (pool and kNN variants, and the no-user-prompt ablation) on a tiny dataset."""

import types

import numpy as np
import pytest
import torch
from walk_data import TINY_T5, ndcg_at_10, random_ndcg, walk_dataset

from benchmark.backends.t5 import build_backbone
from benchmark.errors import ConfigError
from methods import METHODS
from methods.base import FitContext
from methods.p5.peapod import PeaPODKNN, PeaPODNoUser, PeaPODPool, nearest_users
from methods.p5.pod import POD
from methods.user_factors import train_user_factors
from tasks.explanation import prepare

TINY = TINY_T5
#: ``id_tokens="digits"``: the walk steps through consecutive ids, which digit tokens make
#: learnable in these few epochs (BPE ids are covered by the p5 and runner tests)
USER = dict(user_dim=8, cf_epochs=4, id_tokens="digits")
TWINS = (60, 61)  # dataset users whose sequences copy user 0's exactly


@pytest.fixture(scope="module")
def walk():
    """The walk data plus two users with user 0's exact sequence, so three users share one
    training history."""
    return walk_dataset(TWINS)


def _ctx(ds, split, explanation=True):
    return FitContext(dataset=ds, split=split, seed=0, show_progress=False,
                      explanation=prepare(ds, split, 0) if explanation else None)


@pytest.fixture(scope="module")
def trained(walk):
    ds, split = walk
    out = {}
    for cls in (PeaPODPool, PeaPODKNN):
        model = cls(epochs=6, neighbours=5, **USER, **TINY) if cls is PeaPODKNN else cls(
            epochs=6, pool_size=4, **USER, **TINY)
        model.fit(_ctx(ds, split))
        out[cls.name] = model
    return out


@pytest.mark.parametrize("name", ["peapod", "peapod-knn"])
def test_trains_and_beats_random(trained, walk, name):
    _, split = walk
    model = trained[name]
    assert model.fit_info["families"] == ["sequential", "direct", "explanation"]
    assert model.fit_info["user_prompt"] is True
    assert "training split only" in model.fit_info["user_representation"]
    assert ndcg_at_10(model.score_all, split) > random_ndcg(split) + 0.03


@pytest.mark.parametrize("name", ["peapod", "peapod-knn"])
def test_prefix_is_task_prompts_then_a_per_user_prompt(trained, name):
    model = trained[name]
    users = np.array([0, 1, 2])
    for family in ("sequential", "direct", "explanation"):
        prefix = model.prefix(family, users)
        assert prefix.shape == (3, 3 + 3, 48)
        # the first n_prompts vectors are POD's task prompts of that family, for every row
        task = model.prompts[model.family_index[family]]
        assert all(torch.equal(prefix[r, :3], task) for r in range(3))
    user = prefix[:, 3:]
    assert not torch.allclose(user[0], user[1], atol=1e-4)
    assert not torch.allclose(user[1], user[2], atol=1e-4)
    # the user part does not depend on the family
    assert torch.equal(model.prefix("sequential", users)[:, 3:], user)


@pytest.mark.parametrize("name", ["peapod", "peapod-knn"])
def test_identical_histories_give_identical_prompts(trained, walk, name):
    _, split = walk
    pos = {int(u): k for k, u in enumerate(split.users)}
    assert all(np.array_equal(split.train[pos[0]], split.train[pos[t]]) for t in TWINS)
    model = trained[name]
    alone = [model.prefix("sequential", np.array([u])) for u in (0, *TWINS)]
    assert torch.equal(alone[0], alone[1]) and torch.equal(alone[0], alone[2])
    together = model.prefix("sequential", np.array([0, *TWINS, 5]))
    assert torch.allclose(together[0], together[1], atol=1e-6)
    assert torch.allclose(together[0], alone[0][0], atol=1e-6)
    assert not torch.allclose(together[0], together[3], atol=1e-4)


def test_pool_weights_are_a_distribution(trained, walk):
    _, split = walk
    model = trained["peapod"]
    w = model.composition_weights(split.users)
    assert w.shape == (split.n_users, 4)
    assert (w >= 0).all()
    assert torch.allclose(w.sum(1), torch.ones(split.n_users), atol=1e-6)
    # users differ in their mixture; the prompt is that mixture of the pool's components
    assert w.std(0).max() > 1e-4
    mix = torch.einsum("bk,kld->bld", w[:2], model.user_modules.pool)
    assert torch.allclose(model.prefix("direct", split.users[:2])[:, 3:], mix, atol=1e-6)


def test_nearest_users_are_top_k_by_cosine_excluding_self():
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(50, 6, generator=gen)
    v[7] = 3.0 * v[3]  # same direction, different length: cosine 1
    near = nearest_users(v, 5, chunk=16)  # several chunks
    assert near.shape == (50, 5) and near.dtype == torch.long
    unit = torch.nn.functional.normalize(v.double(), dim=1)
    sim = unit @ unit.T
    for r in range(50):
        assert r not in near[r].tolist()
        others = [c for c in range(50) if c != r]
        expect = sorted(others, key=lambda c: -float(sim[r, c]))[:5]
        assert near[r].tolist() == expect
    assert near[3, 0] == 7 and near[7, 0] == 3
    with pytest.raises(ValueError):
        nearest_users(v, 50)


def test_nearest_users_tie_rule_and_zero_rows():
    v = torch.tensor([[1.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    near = nearest_users(v, 3)
    assert near[0].tolist() == [1, 2, 3]  # ties at cosine 1 go to the lower index, then 0s
    assert near[3].tolist() == [0, 1, 2]  # a zero row is equally (un)similar to all


def test_knn_table_uses_split_users_and_excludes_self(trained, walk):
    ds, split = walk
    model = trained["peapod-knn"]
    table = model.neighbour_table.cpu()
    assert table.shape == (ds.n_users, 5)
    kept = torch.as_tensor(split.users)
    expect = kept[nearest_users(model.user_vectors.cpu()[kept], 5)]
    assert torch.equal(table[kept], expect)
    assert not (table[kept] == kept[:, None]).any()
    assert model.fit_info["neighbours"] == 5


def _build_only(cls, ds, split, **params):
    """A model with a tiny backbone and its prompts built, without training."""
    model = cls(**params, **TINY)
    model.device = torch.device("cpu")
    torch.manual_seed(0)
    model.backbone = build_backbone("cpu", vocab_size=60, d_model=48, d_ff=96, num_layers=1,
                                    num_decoder_layers=1, num_heads=2, d_kv=24)
    model._build_prompts(FitContext(dataset=ds, split=split, seed=0, show_progress=False))
    return model


@pytest.mark.parametrize("cls", [PeaPODPool, PeaPODKNN])
def test_valid_and_test_targets_do_not_reach_the_user_prompts(walk, cls):
    ds, split = walk
    params = dict(neighbours=5, **USER) if cls is PeaPODKNN else dict(pool_size=4, **USER)
    base = _build_only(cls, ds, split, **params)
    moved = types.SimpleNamespace(**vars(split), n_users=split.n_users)
    moved.valid = (split.valid % split.n_items) + 1
    moved.test = np.full_like(split.test, 1)
    # a split without any validation or test targets: reading them would raise
    blind = types.SimpleNamespace(users=split.users, train=split.train, n_items=split.n_items,
                                  n_users=split.n_users, n_dropped=split.n_dropped)
    for other in (moved, blind):
        model = _build_only(cls, ds, other, **params)
        assert torch.equal(model.user_vectors, base.user_vectors)
        with torch.no_grad():
            assert torch.equal(model.prefix("sequential", split.users),
                               base.prefix("sequential", split.users))
    factors = train_user_factors(split.train, split.users, ds.n_users, split.n_items, dim=8,
                                 epochs=4, seed=0)
    assert torch.allclose(torch.nn.functional.normalize(factors[split.users], dim=1),
                          torch.nn.functional.normalize(base.user_vectors[split.users], dim=1))


def test_user_modules_are_trainable_and_snapshotted(trained, walk):
    ds, split = walk
    model = trained["peapod"]
    extra = model.extra_parameters()
    assert extra[0] is model.prompts
    assert len(extra) == 1 + len(list(model.user_modules.parameters()))
    assert model.fit_info["n_parameters"] == (
        sum(t.numel() for t in model.backbone.parameters()) + sum(t.numel() for t in extra))
    # a loss on user rows reaches every user-prompt parameter
    samples = model._epoch_samples(_ctx(ds, split), np.random.default_rng(1))["sequential"][:8]
    model._train_mode(True)
    try:
        model._loss(samples).backward()
        assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in extra)
    finally:
        model._train_mode(False)
        for t in [*extra, *model.backbone.parameters()]:
            t.grad = None


def test_explanations_are_text(trained):
    texts = trained["peapod-knn"].generate_explanations(np.array([0, 1]), np.array([3, 4]),
                                                        ["", ""])
    assert len(texts) == 2 and all(isinstance(t, str) and t for t in texts)


def test_without_user_prompt_it_is_pod(walk):
    ds, split = walk
    ctx = _ctx(ds, split, explanation=False)
    models = [POD(epochs=1, **TINY), PeaPODNoUser(epochs=1, **TINY),
              PeaPODPool(epochs=1, user_prompt=False, **TINY)]
    for m in models:
        m.fit(ctx)
    users, hist = split.users, split.histories("test")
    scores = [m.score_all(users, hist) for m in models]
    assert torch.equal(scores[0], scores[1]) and torch.equal(scores[0], scores[2])
    assert torch.isfinite(scores[0][:, 1:]).all() and scores[0][:, 1:].std() > 0
    for m in models[1:]:
        assert torch.equal(m.prompts, models[0].prompts)
        assert m.user_modules is None and len(m.extra_parameters()) == 1
        assert m.fit_info["user_prompt"] is False and "user_representation" not in m.fit_info
        assert m.prefix("direct", users[:4]).shape == (3, 48)
        assert m.fit_info["history"] == models[0].fit_info["history"]


def test_params_and_registry():
    assert METHODS.get("peapod") is PeaPODPool
    assert METHODS.get("peapod-knn") is PeaPODKNN
    assert METHODS.get("peapod-no-user") is PeaPODNoUser
    assert PeaPODPool().params["pool_size"] == 10
    assert PeaPODPool().params["prompt_length"] == 3
    assert PeaPODKNN().params["neighbours"] == 20 and PeaPODKNN().params["user_heads"] == 4
    paper = PeaPODKNN("paper").params
    assert (paper["lr"], paper["batch_size"], paper["epochs"], paper["user_dim"]) == (
        5e-4, 64, 30, 512)
    assert PeaPODNoUser().params["user_prompt"] is False
    assert "2407.05033" in PeaPODPool.bibtex and PeaPODKNN.bibtex == PeaPODPool.bibtex
    with pytest.raises(TypeError, match="unknown parameter"):
        PeaPODPool(neighbours=5)
    with pytest.raises(TypeError, match="unknown parameter"):
        PeaPODKNN(pool_size=5)
    with pytest.raises(TypeError, match="unknown parameter"):
        PeaPODPool(prompt_len=3)
    with pytest.raises(ConfigError, match="divisible"):
        PeaPODKNN(user_dim=10, user_heads=4)
    with pytest.raises(ConfigError, match="ablation"):
        PeaPODNoUser(user_prompt=True)
    with pytest.raises(ConfigError, match="pool_size"):
        PeaPODPool(pool_size=0)
