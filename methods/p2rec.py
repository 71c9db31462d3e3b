"""P2Rec (Liu et al. 2024, arXiv 2406.00333; v1 "TSLRec"): an LLM that enhances SASRec's item
embeddings through a user-level fine-tuning task, with the controls that say what the LLM adds.

What the paper states (its abstract and public summaries; the full text and code were not
reachable offline, ``../shared/REFERENCE.md``):

* **Stage 1, information reconstruction.** A pre-trained sequential recommender's item
  embeddings are grouped by k-means into latent categories. One fine-tuning sample per *user*:
  from the user's interaction sequence the LLM predicts, through a linear head with an MSE loss,
  the user's preference distribution over those categories (normalised interaction counts).
  SFT costs O(#users) instead of O(sum of sequence lengths). Little item text is needed.
* **Stage 2, information augmentation.** Each item is given to the tuned LLM on its own (a
  one-item user); the representations are enhanced item embeddings that help train sequential
  recommenders.

What this implementation does (every open choice a parameter, defaults in ``P2Rec.Params``):

* stage 0 fits ``sasrec`` (``methods.sasrec``) on the training split; k-means (seeded) over its
  item table gives ``n_categories`` categories; each user's target is the category share of
  their *training* items only (``methods.item_vectors.preference_targets``).
* stage 1 fine-tunes the run's LLM (``--llm``; the embedded SmolLM2-135M-Instruct by default)
  on one prompt per user: the last ``max_history`` items (titles, or ``item <id>``), pooled
  (``methods.pooled_lm``) into a linear head, loss ``mse`` (or ``kl``); ``tune`` picks which
  weights learn. 10% of users are held out for early stopping on their loss.
* stage 2 encodes the one-item prompt of every item with the tuned LM, reduces the vectors to
  SASRec's width (``reduce``: ``pca``, scaled to the spread of stage 0's table, or a learned
  ``adapter``) and fits a fresh ``sasrec`` whose item table starts from them (``embedding:
  init``) or is the frozen vectors through a trained linear map (``frozen``). Stage 2 always
  runs on transformers (the tuned weights live in this process); ``fit_info`` says so.

The controls are registered methods that differ in one thing (``item_init``):
``p2rec-untuned`` skips stage 1 (stage 2 on the pretrained LLM) and ``p2rec-self-init`` starts
the final ``sasrec`` from stage 0's own item table (no LLM), so a gain of ``p2rec`` over
``sasrec`` can be told apart from re-initialisation and from the LLM's pretrained knowledge.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.backends.llm.models import model_provenance, resolve_llm
from benchmark.errors import ConfigError
from methods.base import FitContext
from methods.item_vectors import kmeans, pca_reduce, preference_targets
from methods.params import choice, fraction, param, positive_int, positive_number
from methods.pooled_lm import POOLING, TUNE_MODES, PooledLM
from methods.sasrec import SASRec, SASRecNet
from methods.training import stop_info, train_epochs

__all__ = ["P2Rec", "P2RecSelfInit", "P2RecUntuned", "history_prompt"]

P2REC_BIBTEX = """@article{liu2024p2rec,
  title   = {A Practice-Friendly LLM-Enhanced Paradigm with Preference Parsing for Sequential
             Recommendation},
  author  = {Liu and others},
  journal = {arXiv preprint arXiv:2406.00333},
  year    = {2024},
  note    = {v1 titled TSLRec; the full author list could not be checked offline}
}"""

ITEM_INIT = ("llm-tuned", "llm-untuned", "sasrec")


def history_prompt(texts: list[str]) -> str:
    """The LM's input for a user (their items, oldest first) and, with one item, for an item."""
    return "A user's items, oldest first: " + "; ".join(texts) + "."


class AdaptedItemTable(nn.Module):
    """SASRec's item table as fixed vectors through a trained linear map (``embedding:
    frozen``). Row 0 (padding) is zero. Behaves like the ``nn.Embedding`` it replaces: called
    with ids, and ``.weight`` is the whole table."""

    def __init__(self, vectors: torch.Tensor, hidden: int) -> None:
        super().__init__()
        self.register_buffer("vectors", vectors.float())
        self.adapter = nn.Linear(vectors.shape[1], hidden, bias=False)
        with torch.no_grad():  # identity where the widths agree (PCA), small noise elsewhere
            if vectors.shape[1] == hidden:
                self.adapter.weight.copy_(torch.eye(hidden))
            else:
                nn.init.normal_(self.adapter.weight, std=0.02)

    @property
    def weight(self) -> torch.Tensor:
        table = self.adapter(self.vectors)
        return torch.cat([table.new_zeros(1, table.shape[1]), table])

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        return F.embedding(items, self.weight, padding_idx=0)


class SeededSASRec(SASRec):
    """``sasrec`` whose item table starts from given vectors (``[n_items, width]``)."""

    def __init__(self, vectors: torch.Tensor, frozen: bool, profile: str, **params: Any) -> None:
        super().__init__(profile, **params)
        self.vectors, self.frozen = vectors, frozen

    def build_net(self, n_items: int) -> SASRecNet:
        net = super().build_net(n_items)
        if self.frozen:
            net.item_emb = AdaptedItemTable(self.vectors, self.params["hidden"])
        else:
            with torch.no_grad():
                net.item_emb.weight[1:] = self.vectors
        return net


class P2Rec(SASRec):
    """P2Rec: stage 0 ``sasrec`` -> k-means categories -> user-level SFT of the LLM -> item
    vectors from the tuned LLM -> a fresh ``sasrec`` started from them (module docstring)."""

    name = "p2rec"
    bibtex = P2REC_BIBTEX
    uses_llm = True

    @dataclass
    class Params(SASRec.Params):
        """SASRec's (for stage 0 and the final model) plus P2Rec's own. The paper's values are
        not known (module docstring), so ``paper`` keeps the ``cpu`` choices for these."""

        #: where the final sasrec's item table comes from: the tuned LLM (P2Rec), the
        #: pretrained LLM (control: no stage 1) or stage 0's table (control: no LLM)
        item_init: str = param("llm-tuned", check=choice(*ITEM_INIT))
        #: sasrec's cap, doubled on ``cpu``: a table started from PCA-reduced LLM vectors
        #: converges slower than a random one (ML-100K seed 0, ``p2rec-untuned``: best epoch 27
        #: of sasrec's 30, still improving); stage 0 and ``sasrec`` early-stop near epoch 20
        max_epochs: int = param(60, paper=200)
        #: k-means categories over stage 0's item table (the regression target's width)
        n_categories: int = param(20, check=positive_int)
        #: how an item is written in the prompts: its title, or ``item <id>``
        item_text: str = param("title", check=choice("title", "id"))
        #: a user's prompt keeps their last this many training items
        max_history: int = param(20, check=positive_int)
        #: ``mean`` over the prompt's tokens, or the ``last`` token's state: chosen on ML-100K
        #: validation NDCG@10 over seeds 0-2, where mean led by .005-.012 in every seed
        #: (``configs/p2rec-choices/pooling-mean-rows.yaml``, README)
        pooling: str = param("mean", check=choice(*POOLING))
        tune: str = param("top", check=choice(*TUNE_MODES))
        #: decoder layers tuned under ``tune: top``
        tune_layers: int = param(2, check=positive_int)
        lora_rank: int = param(8, check=positive_int)
        #: stage 1 loss on the head's output: MSE to the target shares (the paper), or KL
        #: from the target to the head's softmax
        sft_loss: str = param("mse", check=choice("mse", "kl"))
        sft_lr: float = param(1e-4, check=positive_number)
        head_lr: float = param(1e-3, check=positive_number)
        sft_batch_size: int = param(16, check=positive_int)
        sft_epochs: int = param(8, check=positive_int)
        sft_patience: int = param(2, check=positive_int)
        #: share of users held out of stage 1's training to pick its epoch
        sft_holdout: float = param(0.1, check=fraction)
        #: stage 2: the LLM vectors to SASRec's width by ``pca`` or a trained ``adapter``
        reduce: str = param("pca", check=choice("pca", "adapter"))
        #: stage 2: the vectors ``init``-ialise a trained table, or stay ``frozen`` behind a
        #: trained linear map
        embedding: str = param("init", check=choice("init", "frozen"))

    def __init__(self, profile: str = "cpu", **params: Any) -> None:
        super().__init__(profile, **params)
        if self.params["reduce"] == "adapter" and self.params["embedding"] == "init":
            raise ConfigError(
                f"method_params.{self.name}.reduce: 'adapter' needs embedding 'frozen' (the "
                "adapter is trained with the final sasrec); use reduce 'pca' with 'init'"
            )
        self.final: SASRec | None = None

    def _sasrec_params(self) -> dict[str, Any]:
        names = {f.name for f in dataclasses.fields(SASRec.Params)}
        return {k: v for k, v in self.params.items() if k in names}

    # ------------------------------------------------------------------ fit
    def fit(self, ctx: FitContext) -> None:
        p = self.params
        stage = (lambda name: ctx.checkpoint.stage(name)) if ctx.checkpoint else (lambda _: None)
        info: dict[str, Any] = {"item_init": p["item_init"]}

        t0 = time.perf_counter()
        stage0 = SASRec(self.profile, **self._sasrec_params())
        stage0.fit(dataclasses.replace(ctx, checkpoint=stage("stage0")))
        assert stage0.net is not None
        table0 = stage0.net.item_emb.weight[1:].detach().cpu().numpy().astype(np.float64)
        info["stage0"] = {**_summary(stage0.fit_info), "seconds": time.perf_counter() - t0}

        if p["item_init"] == "sasrec":
            vectors = table0
        else:
            vectors = self._llm_vectors(ctx, table0, info, stage)

        t2 = time.perf_counter()
        final = SeededSASRec(torch.from_numpy(vectors).float(), p["embedding"] == "frozen",
                             self.profile, **self._sasrec_params())  # fmt: skip
        final.fit(dataclasses.replace(ctx, checkpoint=stage("stage2")))
        self.final, self.net = final, final.net
        info["final_sasrec_seconds"] = time.perf_counter() - t2
        for name in ("stage0", "stage1", "stage2"):
            checkpoint = stage(name)
            if checkpoint is not None:
                checkpoint.clear()
        self.fit_info = {**final.fit_info, "fit_seconds": time.perf_counter() - t0, **info}

    def _llm_vectors(self, ctx: FitContext, table0: np.ndarray, info: dict[str, Any],
                     stage: Any) -> np.ndarray:  # fmt: skip
        """Stages 1 (unless ``llm-untuned``) and 2: the final model's starting item table."""
        p = self.params
        model_dir = resolve_llm(ctx.llm.model_dir if ctx.llm is not None else None)
        lm = PooledLM(model_dir, tune=p["tune"], tune_layers=p["tune_layers"],
                      lora_rank=p["lora_rank"], pooling=p["pooling"], seed=ctx.seed,
                      device=ctx.device, show_progress=ctx.show_progress)  # fmt: skip
        texts = self._item_texts(ctx)
        info["llm"] = {"model_dir": str(model_dir), "weights": model_provenance(model_dir),
                       "width": lm.width, "item_text": p["item_text"],
                       "items_without_title": int(sum(t.startswith("item ") for t in texts))
                       if p["item_text"] == "title" else None}  # fmt: skip
        if p["item_init"] == "llm-tuned":
            info["stage1"] = self._stage1(ctx, lm, table0, texts, stage("stage1"))
        t2 = time.perf_counter()
        raw = lm.encode([history_prompt([t]) for t in texts], desc="p2rec items").numpy()
        hidden = p["hidden"]
        if p["reduce"] == "pca":
            vectors = pca_reduce(raw, hidden)
            if p["embedding"] == "init":  # the spread of a trained table, not the LM's
                vectors *= table0.std() / max(vectors.std(), 1e-12)
        else:
            vectors = raw
        info["stage2"] = {"backend": "transformers", "seconds": time.perf_counter() - t2,
                          "llm_width": int(raw.shape[1]), "reduced_to": int(vectors.shape[1]),
                          "reduce": p["reduce"], "embedding": p["embedding"]}  # fmt: skip
        return vectors

    def _item_texts(self, ctx: FitContext) -> list[str]:
        """Text of items 1..n, as the prompts write them."""
        n = ctx.split.n_items
        if self.params["item_text"] == "id":
            return [f"item {i}" for i in range(1, n + 1)]
        items = ctx.dataset.items
        titles = {int(i): t for i, t in zip(items["item"], items["title"])
                  if isinstance(t, str) and t.strip()}  # fmt: skip
        return [titles.get(i, f"item {i}").strip() for i in range(1, n + 1)]

    # ------------------------------------------------------------------ stage 1
    def _stage1(self, ctx: FitContext, lm: PooledLM, table0: np.ndarray, texts: list[str],
                checkpoint: Any) -> dict[str, Any]:  # fmt: skip
        """User-level SFT: each user's prompt -> pooled state -> head -> category shares."""
        p = self.params
        t0 = time.perf_counter()
        k = min(p["n_categories"], len(table0))
        labels = kmeans(table0, k, seed=ctx.seed)
        train = ctx.split.train  # training interactions only: never the valid/test targets
        targets = torch.from_numpy(preference_targets(train, labels, k)).float()
        histories = [h[-p["max_history"] :] for h in train]
        prompts = [history_prompt([texts[i - 1] for i in h]) for h in histories]
        inputs = lm.prepare(prompts, desc="p2rec frozen layers")
        prepare_seconds = time.perf_counter() - t0

        rng = np.random.default_rng(ctx.seed)
        order = rng.permutation(len(prompts))
        n_hold = max(1, int(round(p["sft_holdout"] * len(prompts)))) if len(prompts) > 1 else 0
        held, fit_rows = order[:n_hold], order[n_hold:]
        # drawn on CPU from a CPU generator, then moved: the same head on every device
        gen = torch.Generator().manual_seed(ctx.seed)
        head = nn.Linear(lm.width, k)
        with torch.no_grad():
            bound = 1.0 / lm.width**0.5
            head.weight.uniform_(-bound, bound, generator=gen)
            head.bias.zero_()
        head = head.to(lm.device)
        optim = torch.optim.AdamW([{"params": lm.trainable(), "lr": p["sft_lr"]},
                                   {"params": head.parameters(), "lr": p["head_lr"]}])  # fmt: skip
        history: list[dict[str, float]] = []

        def loss_of(rows: np.ndarray) -> torch.Tensor:
            return sft_loss(lm, head, [inputs[i] for i in rows], targets[rows], p["sft_loss"])

        def run_epoch(epoch: int) -> float:
            lm.train(True)
            shuffled = rng.permutation(fit_rows)
            total = 0.0
            for start in range(0, len(shuffled), p["sft_batch_size"]):
                rows = shuffled[start : start + p["sft_batch_size"]]
                total += sft_step(optim, loss_of(rows)) * len(rows)
            lm.train(False)
            with torch.no_grad():
                held_loss = sum(float(loss_of(held[s : s + 64])) * len(held[s : s + 64])
                                for s in range(0, len(held), 64)) / max(1, len(held))  # fmt: skip
            history.append({"epoch": epoch, "loss": total / max(1, len(fit_rows)),
                            "heldout_loss": held_loss})  # fmt: skip
            return -held_loss

        def snapshot() -> dict[str, Any]:
            return {"lm": lm.state(), "head": {k: v.clone() for k, v in head.state_dict().items()}}

        def restore(state: dict[str, Any]) -> None:
            lm.load_state(state["lm"])
            head.load_state_dict(state["head"])

        def training_state() -> dict[str, Any]:
            return {**snapshot(), "optim": optim.state_dict(), "rng": rng.bit_generator.state,
                    "history": list(history)}  # fmt: skip

        def load_training_state(state: dict[str, Any]) -> None:
            restore(state)
            optim.load_state_dict(state["optim"])
            rng.bit_generator.state = state["rng"]
            history[:] = state["history"]

        # the trivial predictor, for scale: every held-out user gets the mean shares of the
        # training users (what the head could output without reading the prompt)
        if n_hold:
            mean_share = targets[fit_rows].mean(dim=0, keepdim=True).expand(n_hold, -1)
            held_targets = targets[held]
            if p["sft_loss"] == "kl":
                mean_loss = F.kl_div(mean_share.clamp_min(1e-12).log(), held_targets,
                                     reduction="batchmean")  # fmt: skip
            else:
                mean_loss = F.mse_loss(mean_share, held_targets)
            heldout_loss_of_mean = float(mean_loss)
        else:
            heldout_loss_of_mean = None

        t1 = time.perf_counter()
        stopper = train_epochs(p["sft_epochs"], p["sft_patience"], run_epoch, snapshot, restore,
                               checkpoint=checkpoint, training_state=training_state,
                               load_training_state=load_training_state)  # fmt: skip
        lm.train(False)
        tokens = [int(x.shape[0]) if isinstance(x, torch.Tensor) else len(x) for x in inputs]
        return {
            **stop_info(stopper),
            "history": history,
            "heldout_loss_of_mean_shares": heldout_loss_of_mean,
            "n_categories": k,
            "category_sizes": np.bincount(labels, minlength=k).tolist(),
            "users": len(prompts),
            "heldout_users": int(n_hold),
            "users_truncated": int(sum(len(h) > p["max_history"] for h in train)),
            "max_history": p["max_history"],
            "mean_prompt_tokens": float(np.mean(tokens)) if tokens else 0.0,
            "trainable_parameters": int(sum(w.numel() for w in lm.trainable())),
            "prepare_seconds": prepare_seconds,
            "train_seconds": time.perf_counter() - t1,
        }

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def score_all(self, users: np.ndarray, histories: list[np.ndarray]) -> torch.Tensor:
        if self.final is None:
            raise RuntimeError(f"{self.name}.score_all called before fit")
        return self.final.score_all(users, histories)


def _summary(fit_info: dict[str, Any]) -> dict[str, Any]:
    """A stage's fit_info without its per-epoch curve's bulk: how it ended and its scores."""
    keep = ("epochs", "best_epoch", "stop_reason", "improving_at_cap", "best_valid_ndcg@10",
            "seconds_per_epoch", "history")  # fmt: skip
    return {k: fit_info[k] for k in keep if k in fit_info}


class P2RecUntuned(P2Rec):
    """Control: P2Rec without stage 1 (item vectors from the pretrained LLM)."""

    name = "p2rec-untuned"

    @dataclass
    class Params(P2Rec.Params):
        item_init: str = param("llm-untuned", check=choice("llm-untuned"))


class P2RecSelfInit(P2Rec):
    """Control: the final sasrec starts from stage 0's own item table (no LLM)."""

    name = "p2rec-self-init"
    uses_llm = False

    @dataclass
    class Params(P2Rec.Params):
        """SASRec's, ``item_init`` and ``embedding``: no LLM runs, so none of stage 1's or
        the LLM's knobs is read (dropped, so a result records only what shaped it)."""

        omit = ("n_categories", "item_text", "max_history", "pooling", "tune", "tune_layers",
                "lora_rank", "sft_loss", "sft_lr", "head_lr", "sft_batch_size", "sft_epochs",
                "sft_patience", "sft_holdout")  # fmt: skip
        item_init: str = param("sasrec", check=choice("sasrec"))


def sft_loss(lm: PooledLM, head: nn.Module, batch: list[Any], target: torch.Tensor,
             kind: str) -> torch.Tensor:  # fmt: skip
    """Stage 1's loss on one batch of prepared prompts: MSE on the head's output, or (``kl``)
    the KL divergence from the target shares to the head's softmax."""
    out = head(lm.forward_train(batch))
    target = target.to(out.device)
    if kind == "kl":
        return F.kl_div(F.log_softmax(out, dim=-1), target, reduction="batchmean")
    return F.mse_loss(out, target)


def sft_step(optim: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    """One optimiser step on ``loss``; its value, for the epoch's mean."""
    optim.zero_grad(set_to_none=True)
    loss.backward()
    optim.step()
    return float(loss.detach())
