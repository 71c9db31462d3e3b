"""PeaPOD (Ramos, Wu, Lipani 2024, arXiv 2407.05033): POD with a personalised soft prompt.

Everything of POD (``methods.p5.pod``) is kept: whole-word embeddings, per-family task prompts,
task-alternating batches, early stopping on validation NDCG@10, short inputs at inference. Each
encoder input becomes ``[task prompts; user prompt; text]``: ``prefix`` returns, per batch row,
the family's ``n_prompts`` vectors followed by ``prompt_length`` vectors made for that user.

Two published ways of making the user prompt (REFERENCE.md, PeaPOD), as two methods:

* ``peapod`` follows the paper (arXiv v1 abstract): a shared pool of ``pool_size`` learnable
  prompt components, each ``prompt_length x d_model``, with one learnable key each. A query
  projected from the user's interest vector attends over the keys; the softmax weights
  (``composition_weights``) mix the components into the user's prompt. The abstract gives no
  sizes: ``pool_size`` 10 and ``prompt_length`` 3 (the released code's prompt length) are ours.
* ``peapod-knn`` follows the authors' released code: multi-head attention (``user_heads`` 4)
  whose query is the user's own vector and whose keys/values are the vectors of the user's
  ``neighbours`` most similar users (cosine, ``nearest_users``; k = 20 as on Sports/Beauty, the
  code used 10 on Toys), its output projected to ``prompt_length`` (3) x ``d_model``.

User interest vectors. The code reads precomputed CF user embeddings (width 512) whose training
is not documented; a third-party summary says PMF. We train implicit-feedback matrix
factorisation by ALS (``methods.user_factors``, ``user_dim`` 64 in the ``cpu`` profile, 512 in
``paper``, ``cf_epochs`` alternations) on the training split only, never on validation or test
targets. Its closed-form user step makes a user's vector a function of their set of training
items, so users with identical histories get identical vectors, hence identical prompts. As in
the released code the vectors stay fixed during training (only the prompt modules learn); the
kNN table is computed once at fit time. ``fit_info["user_representation"]`` records the model.

New modules are initialised from a torch RNG seeded with the fit seed inside
``torch.random.fork_rng``, so the global RNG that drives the backbone's initialisation order,
dropout and sampling is not advanced. ``user_prompt=False`` builds nothing at all (no CF model,
no parameter) and is then POD exactly, same seed same weights; it is registered as its own
method, ``peapod-no-user``, the paper's ablation row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.errors import ConfigError
from methods.base import FitContext
from methods.p5.pod import POD
from methods.params import check_divisible, flag, param, positive_int
from methods.user_factors import train_user_factors

PEAPOD_BIBTEX = """@article{ramos2024peapod,
  title         = {PeaPOD: Personalized Prompt Distillation for Generative Recommendation},
  author        = {Ramos, Jerome and Wu, Bin and Lipani, Aldo},
  journal       = {arXiv preprint arXiv:2407.05033},
  year          = {2024},
  eprint        = {2407.05033},
  archiveprefix = {arXiv}
}"""


def _ablation(value: Any) -> str | None:
    """``peapod-no-user``'s ``user_prompt``: only ``false``, the point of the ablation."""
    if value is False:
        return None
    return f"false (peapod-no-user is the no-user-prompt ablation; use peapod), got {value!r}"


def nearest_users(vectors: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Indices ``[n, k]`` of each row's ``k`` most cosine-similar other rows, most similar first.

    A row is never its own neighbour; ties go to the lower index; zero rows have similarity 0 to
    everything. ``k`` must be below the number of rows.
    """
    n = vectors.shape[0]
    if not 0 < k < n:
        raise ValueError(f"k must lie in 1..{n - 1}, got {k}")
    unit = vectors.double()
    unit = unit / unit.norm(dim=1, keepdim=True).clamp_min(1e-12)
    out = torch.empty(n, k, dtype=torch.long)
    for start in range(0, n, chunk):
        sim = unit[start : start + chunk] @ unit.T
        rows = torch.arange(sim.shape[0])
        sim[rows, rows + start] = -math.inf
        # a stable sort makes the tie rule explicit (torch.topk leaves tie order undefined)
        out[start : start + chunk] = sim.sort(dim=1, descending=True, stable=True).indices[:, :k]
    return out


class PeaPOD(POD):
    """Shared part of the PeaPOD variants: CF user vectors, the ``[task; user]`` prefix."""

    bibtex = PEAPOD_BIBTEX

    @dataclass
    class Params(POD.Params):
        """POD's, plus the user prompt. REFERENCE.md: t5-small, batch 64, lr 5e-4, up to 30
        epochs (POD's ``paper`` profile already has these), 4 heads, prompt length 3, k = 20,
        user embeddings of width 512."""

        #: ``False``: no user prompt, POD exactly (the ``peapod-no-user`` ablation)
        user_prompt: bool = param(True, check=flag)
        #: user-prompt vectors after the task prompts
        prompt_length: int = param(3, paper=3, check=positive_int)
        #: width of the CF user vectors
        user_dim: int = param(64, paper=512, check=positive_int)
        #: ALS alternations of the CF user vectors
        cf_epochs: int = param(10, check=positive_int)

    def __init__(self, profile: str = "cpu", **params: Any) -> None:
        super().__init__(profile, **params)
        self.user_modules: nn.Module | None = None

    # ------------------------------------------------------------------ building
    def _build_prompts(self, ctx: FitContext) -> None:
        super()._build_prompts(ctx)
        if not self.params["user_prompt"]:
            return  # the ablation: POD exactly, nothing built, no RNG consumed
        p = self.params
        split = ctx.split
        vectors = train_user_factors(
            split.train,
            split.users,
            ctx.dataset.n_users,
            split.n_items,
            dim=p["user_dim"],
            epochs=p["cf_epochs"],
            seed=ctx.seed,
        )
        self.fit_info_extra = {
            "user_representation": (
                f"implicit ALS MF (Hu et al. 2008), dim {p['user_dim']}, {p['cf_epochs']} "
                "epochs, training split only; fixed during training"
            ),
        }
        # unit length, then scaled so entries are about unit size: cosine geometry, and a
        # query input on the scale nn.Linear's initialisation expects
        norm = vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)
        self.user_vectors = (vectors / norm * math.sqrt(p["user_dim"])).to(self.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(ctx.seed)
            self.user_modules = self._build_user_modules(ctx).to(self.device)

    def _build_user_modules(self, ctx: FitContext) -> nn.Module:
        """The variant's trainable user-prompt modules (the global RNG is forked and seeded)."""
        raise NotImplementedError

    def _user_prompt(self, rows: torch.Tensor) -> torch.Tensor:
        """``[B, prompt_length, d]`` for dataset user indices ``rows`` (on ``self.device``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ hooks
    def extra_parameters(self) -> list[nn.Parameter]:
        extra = super().extra_parameters()
        if self.user_modules is not None:
            extra += list(self.user_modules.parameters())
        return extra

    def _train_mode(self, on: bool) -> None:
        super()._train_mode(on)
        if self.user_modules is not None:
            self.user_modules.train(on)

    def _rows(self, users: np.ndarray | int) -> torch.Tensor:
        return torch.as_tensor(np.asarray(users, dtype=np.int64).reshape(-1), device=self.device)

    def prefix(self, family: str, users: np.ndarray) -> torch.Tensor | None:
        task = super().prefix(family, users)
        if self.user_modules is None or task is None:
            return task
        user = self._user_prompt(self._rows(users))
        return torch.cat([task.unsqueeze(0).expand(user.shape[0], -1, -1), user], dim=1)

    def fit(self, ctx: FitContext) -> None:
        self.user_modules = None
        self.fit_info_extra: dict[str, Any] = {}
        super().fit(ctx)
        p = self.params
        self.fit_info["user_prompt"] = bool(p["user_prompt"])
        if p["user_prompt"]:
            self.fit_info["prompt_length"] = p["prompt_length"]
            self.fit_info.update(self.fit_info_extra)


class PeaPODPool(PeaPOD):
    """PeaPOD as in the paper: the user's prompt is an attention-weighted mix of a prompt pool."""

    name = "peapod"

    @dataclass
    class Params(PeaPOD.Params):
        """PeaPOD's, with the pool's size (the abstract gives none; 10 is ours)."""

        pool_size: int = param(10, paper=10, check=positive_int)

    def _build_user_modules(self, ctx: FitContext) -> nn.Module:
        assert self.backbone is not None
        p = self.params
        table = self.backbone.t5.get_input_embeddings().weight.detach()
        d = table.shape[1]
        mods = nn.Module()
        # components start as random token embeddings, on the scale the encoder expects
        rows = torch.randint(3, table.shape[0], (p["pool_size"], p["prompt_length"]))
        mods.pool = nn.Parameter(table[rows].clone().cpu())
        mods.keys = nn.Parameter(torch.randn(p["pool_size"], d))
        mods.query = nn.Linear(p["user_dim"], d)
        return mods

    def composition_weights(self, users: np.ndarray | int) -> torch.Tensor:
        """Softmax weights ``[B, pool_size]`` of the pool components for each user."""
        if self.user_modules is None:
            raise RuntimeError(f"{self.name}: no user prompt (not fitted, or user_prompt=False)")
        return self._weights(self._rows(users))

    def _weights(self, rows: torch.Tensor) -> torch.Tensor:
        mods = self.user_modules
        assert mods is not None
        query = mods.query(self.user_vectors[rows])  # [B, d]
        return torch.softmax(query @ mods.keys.T / math.sqrt(query.shape[1]), dim=1)

    def _user_prompt(self, rows: torch.Tensor) -> torch.Tensor:
        mods = self.user_modules
        assert mods is not None
        return torch.einsum("bk,kld->bld", self._weights(rows), mods.pool)


class PeaPODKNN(PeaPOD):
    """PeaPOD as released: attention from the user over their nearest users' vectors."""

    name = "peapod-knn"

    @dataclass
    class Params(PeaPOD.Params):
        """PeaPOD's, with the released code's attention: k = 20 neighbours (as on Sports and
        Beauty), 4 heads."""

        neighbours: int = param(20, paper=20, check=positive_int)
        user_heads: int = param(4, paper=4, check=positive_int)

    def __init__(self, profile: str = "cpu", **params: Any) -> None:
        super().__init__(profile, **params)
        p = self.params
        check_divisible(self.name, p, "user_dim", "user_heads")

    def _build_user_modules(self, ctx: FitContext) -> nn.Module:
        assert self.backbone is not None
        p = self.params
        split = ctx.split
        if split.n_users < 2:
            raise ConfigError(f"{self.name}: needs at least two users")
        k = min(p["neighbours"], split.n_users - 1)
        kept = torch.as_tensor(np.asarray(split.users, dtype=np.int64))
        near = nearest_users(self.user_vectors.cpu()[kept], k)  # positions among kept users
        table = torch.arange(ctx.dataset.n_users)[:, None].repeat(1, k)  # dropped users: self
        table[kept] = kept[near]
        self.neighbour_table = table.to(self.device)
        self.fit_info_extra["neighbours"] = k
        d = self.backbone.t5.get_input_embeddings().weight.shape[1]
        mods = nn.Module()
        mods.attention = nn.MultiheadAttention(p["user_dim"], p["user_heads"], batch_first=True)
        mods.project = nn.Linear(p["user_dim"], p["prompt_length"] * d)
        return mods

    def _user_prompt(self, rows: torch.Tensor) -> torch.Tensor:
        mods = self.user_modules
        assert mods is not None
        query = self.user_vectors[rows].unsqueeze(1)  # [B, 1, u]
        others = self.user_vectors[self.neighbour_table[rows]]  # [B, k, u]
        mixed, _ = mods.attention(query, others, others, need_weights=False)
        return mods.project(mixed[:, 0]).view(len(rows), self.params["prompt_length"], -1)


class PeaPODNoUser(PeaPOD):
    """The ablation: PeaPOD without the user prompt, which is POD with the same seed."""

    name = "peapod-no-user"

    @dataclass
    class Params(PeaPOD.Params):
        """PeaPOD's, with the user prompt off in every profile and only off accepted."""

        user_prompt: bool = param(False, paper=False, check=_ablation)
