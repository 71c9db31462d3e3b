"""P5 (Geng et al., RecSys 2022): one T5 trained on prompt templates of several task families.

Re-implemented from the paper's description (see REFERENCE.md), not from its code:

* Ids are text (``user_12``, items as bare numbers), with whole-word embeddings
  (``benchmark.backends.t5``). Templates and sample builders: ``methods.p5.templates`` and
  ``methods.p5.samples``; the last template of each family is held out of training.
* Families trained: ``sequential`` and ``direct`` always, ``explanation`` when the dataset has
  reviews. Batches hold one family each, families taking turns (``samples.interleave``).
* AdamW, linear warm-up over the first ``warmup`` share of steps (then ``lr_schedule``),
  gradient clipping at ``clip``. After every epoch the sequential validation NDCG@10 (exact
  full ranking of a seeded subset of ``valid_users`` users, history masked) picks the best
  epoch; with ``patience`` set, training stops after that many epochs without improvement.
* Ranking, reported by name in the results (``params.ranking``):
  ``exact`` scores every item (or the given candidates) by its teacher-forced log-likelihood
  after the sequential prompt, walking the item-id trie so shared prefixes are decoded once;
  ``beam`` takes the top ``num_beams`` items of a trie-constrained beam search (OpenP5's
  protocol), every other item ranking below them. By default a finished item is kept only if
  its end-of-sequence step ranks among the step's best ``num_beams`` candidates, as
  transformers' ``generate`` does (and so the published numbers); this can drop short ids that
  would outscore longer ones, which ``beam_keep_all_finished=True`` avoids. ``free`` runs
  unconstrained beam search (P5's and POD's own protocol): outputs that spell no item are
  counted (``predict_info.invalid_output_rate`` in the results), never replaced.
* Top-N (``topn``) scores its candidate list by the same log-likelihood after the sequential
  prompt, one encoder pass per user.
* Explanations come from our own (diverse group) beam search, ``beam_generate``: ``expl_beams``
  beams in ``expl_groups`` groups with ``expl_diversity`` Hamming penalty, at least
  ``expl_min_length`` new tokens (the ``paper`` profile uses POD's 21 beams in 3 groups,
  minimum 10). transformers 5 moved group beam search to a Hub repository that cannot be
  fetched here; with one group ours equals ``generate``'s beam search.
* The ``cpu`` profile trains a small T5 (d_model 128, 2+2 layers) from scratch with a BPE
  tokenizer trained on the run's own prompts (ids merged like other text, ``id_tokens``), on
  the recipe issue 17 measured (``Params``); ``paper`` loads t5-small from ``backbone`` (a
  local directory) with the paper's hyperparameters.
* AdamW with linear warm-up; ``lr_schedule`` ``constant`` (``cpu``) keeps the rate until early
  stopping ends the fit, ``linear`` (``paper``, P5's recipe) decays it to zero at the cap.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from benchmark.backends.t5 import (
    P5Backbone,
    build_backbone,
    encode_batch,
    encode_targets,
    find_t5_small,
    load_tokenizer,
    train_tokenizer,
)
from benchmark.backends.t5.beam import constrained_beam_search, unconstrained_beam_search
from benchmark.backends.t5.dropout import use_fast_dropout
from benchmark.backends.t5.generate import beam_generate
from benchmark.backends.t5.scoring import score_all_items, score_candidates
from benchmark.backends.t5.trie import ItemTrie
from benchmark.errors import ConfigError
from methods.base import FitContext, Method
from methods.p5.samples import (
    Sample,
    direct_samples,
    explanation_samples,
    interleave,
    sequential_samples,
    truncate,
)
from methods.p5.templates import TEMPLATES, Template, get_template, render_source
from methods.params import (
    Params,
    check_divisible,
    choice,
    flag,
    fraction,
    non_negative_int,
    non_negative_number,
    optional,
    param,
    positive_int,
    positive_number,
)
from methods.training import stop_info, train_epochs, valid_ndcg
from tasks.base import parse_variant

P5_BIBTEX = """@inproceedings{geng2022p5,
  title     = {Recommendation as Language Processing (RLP): A Unified Pretrain, Personalized
               Prompt \\& Predict Paradigm (P5)},
  author    = {Geng, Shijie and Liu, Shuchang and Fu, Zuohui and Ge, Yingqiang and
               Zhang, Yongfeng},
  booktitle = {Proceedings of the 16th ACM Conference on Recommender Systems},
  pages     = {299--315},
  year      = {2022},
  doi       = {10.1145/3523227.3546767}
}"""

RANKINGS = ("exact", "beam", "free")
SELECT_ON = ("auto", "sequential", "explanation")
#: epochs the warm-up share of the constant schedule refers to (P5 trains 10 epochs)
WARMUP_EPOCHS = 10


def _template_id(value: Any) -> str | None:
    """The id of a prompt template (``methods.p5.templates``), so a typo fails before fitting."""
    try:
        get_template(value)
    except KeyError as exc:
        return str(exc.args[0])
    return None


def _directory(value: Any) -> str | None:
    """A local directory's path (whether it holds a checkpoint is checked when it is loaded)."""
    good = isinstance(value, (str, os.PathLike)) and str(value).strip()
    return None if good else f"a local directory, got {value!r}"


class P5(Method):
    """P5: T5 trained on multitask prompt templates, ids as text with whole-word embeddings."""

    name = "p5"
    bibtex = P5_BIBTEX
    task_kinds = frozenset({"full", "candidates", "generation"})
    prompt_variants = frozenset({"seen", "unseen"})
    gpu_profiles = frozenset({"paper"})  # t5-small fine-tuning (POD and PeaPOD inherit it)

    @dataclass
    class Params(Params):
        """``cpu``: a small T5 sized by perf/p5_train.py (d_model 256 with 4+4 layers trains at a
        quarter of this size's rate), and the training recipe chosen by issue 17's ablations on
        ML-100K (README, "What holds p5 below pop"): item ids cut by BPE, 16 sampled prefixes
        per user and epoch, a constant lr 3e-4 after warm-up (1e-3 never settles), validation
        on every user (up to 1000) after each epoch, patience 5 under a 40-epoch cap. ``paper``:
        t5-small and the paper's optimiser settings (REFERENCE.md: AdamW, lr 1e-3, 5% warm-up,
        10 epochs, clip 1.0, inputs up to 512 tokens), every training prefix used, and POD's
        explanation decoding: 21 beams in 3 groups, at least 10 tokens; REFERENCE.md names no
        diversity penalty, so transformers' default (0.0) is kept."""

        ranking: str = param("exact", check=choice(*RANKINGS))
        num_beams: int = param(20, check=positive_int)
        beam_keep_all_finished: bool = param(False, check=flag)
        max_history: int = param(20, check=positive_int)
        valid_users: int = param(1000, paper=1000, check=positive_int)
        seq_template: str = param("2-1", check=_template_id)
        unseen_template: str = param("2-8", check=_template_id)
        expl_template: str = param("3-1", check=_template_id)
        unseen_expl_template: str = param("3-6", check=_template_id)
        direct_candidates: int = param(20, check=positive_int)
        expl_beams: int = param(4, paper=21, check=positive_int)
        expl_groups: int = param(1, paper=3, check=positive_int)
        expl_diversity: float = param(0.0, check=non_negative_number)
        expl_min_length: int = param(10, paper=10, check=non_negative_int)
        expl_max_length: int = param(40, check=positive_int)
        eval_batch_size: int = param(64, check=positive_int)
        #: a local t5-small directory for ``paper`` (``None``: the Hugging Face cache)
        backbone: str | None = param(None, check=optional(_directory))
        #: which validation picks the epoch: ``sequential`` (NDCG@10), ``explanation``
        #: (teacher-forced loss on the validation explanations), or ``auto``: explanation when
        #: every task of the run generates text, sequential otherwise
        select_on: str = param("auto", check=choice(*SELECT_ON))
        d_model: int = param(128, check=positive_int)
        d_ff: int = param(512, check=positive_int)
        num_layers: int = param(2, check=positive_int)
        num_heads: int = param(2, check=positive_int)
        dropout: float = param(0.1, check=fraction)
        vocab_size: int = param(3000, check=positive_int)
        #: how the ``cpu`` profile's tokenizer cuts numbers: ``digits`` one token per digit
        #: (``▁ 1 3 5 1``), ``bpe`` merged like other text, frequent ids into one token
        #: (``▁1351``); the ``paper`` profile uses t5-small's own sentencepiece either way
        id_tokens: str = param("bpe", check=choice("digits", "bpe"))
        epochs: int = param(40, paper=10, check=positive_int)
        #: epochs without improvement before stopping (``None``: run every epoch)
        patience: int | None = param(5, paper=None, check=optional(positive_int))
        batch_size: int = param(32, paper=32, check=positive_int)
        lr: float = param(3e-4, paper=1e-3, check=positive_number)
        weight_decay: float = param(0.01, check=non_negative_number)
        warmup: float = param(0.05, check=fraction)
        clip: float = param(1.0, check=positive_number)
        #: training prefixes sampled per user and epoch (``None``: all of them)
        prefixes_per_user: int | None = param(16, paper=None, check=optional(positive_int))
        max_input_len: int = param(160, paper=512, check=positive_int)
        max_target_len: int = param(48, paper=64, check=positive_int)
        #: ranking families trained (explanation joins when the data has reviews): P5's
        #: ``sequential,direct`` (next item, and yes/no on a candidate), or ``sequential`` only
        rank_families: str = param("sequential,direct",
                                   check=choice("sequential,direct", "sequential"))
        #: ``linear``: warm-up, then linear decay to zero at the ``epochs`` cap (P5's recipe,
        #: which assumes the cap is reached); ``constant``: warm-up, then ``lr`` until it stops
        lr_schedule: str = param("constant", paper="linear", check=choice("linear", "constant"))
        #: batches per pool of similar-length prompts (``samples.interleave``; ``None``: plain
        #: shuffle). Less padding per batch, same samples per epoch (perf/p5_train.py)
        length_pool: int | None = param(50, paper=None, check=optional(positive_int))
        #: dropout masks from 16-bit draws (``benchmark.backends.t5.dropout``): the same rate
        #: to 1/65536 at a third of the random draws, which dominate CPU training otherwise
        fast_dropout: bool = param(True, paper=False, check=flag)
        #: seconds of epochs (validation included) after which the fit ends with the epoch
        #: that reaches them (``stop_reason`` "time limit"); None: no limit
        time_limit: float | None = param(None, check=optional(positive_number))

    def __init__(self, profile: str = "cpu", **params: Any) -> None:
        super().__init__(profile, **params)
        p = self.params
        check_divisible(self.name, p, "expl_beams", "expl_groups")
        self.backbone: P5Backbone | None = None

    # ------------------------------------------------------------------ hooks for POD
    def extra_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters beyond the backbone (POD's prompts)."""
        return []

    def prefix(self, family: str, users: np.ndarray) -> torch.Tensor | None:
        """Continuous vectors prepended to the encoder input of ``family`` for ``users``
        (dataset user indices, one per row): none in P5, ``[P, d]`` task prompts shared by the
        batch in POD, ``[B, P, d]`` once a user prompt is added (PeaPOD)."""
        return None

    def eval_source(self, family: str, template: Template, **fields: Any) -> str:
        """The evaluation input; POD replaces it with its short input."""
        return render_source(template, **fields)

    def eval_input_id(self, family: str, template_id: str) -> str:
        """Id of the input format ``eval_source`` really uses (recorded with each result)."""
        return template_id

    def eval_template_id(self, family: str) -> str:
        """The template for ``family`` under the task's prompt wording (``self.prompt``):
        a seen template, or the family's held-out one for ``prompt=unseen``."""
        p = self.params
        keys = {
            "sequential": ("seq_template", "unseen_template"),
            "explanation": ("expl_template", "unseen_expl_template"),
        }[family]
        template_id = p[keys[1] if self.prompt == "unseen" else keys[0]]
        self.predict_info["input"] = self.eval_input_id(family, template_id)
        return template_id

    # ------------------------------------------------------------------ training
    def _epoch_samples(self, ctx: FitContext, rng: np.random.Generator) -> dict[str, list[Sample]]:
        p = self.params
        out: dict[str, list[Sample]] = {
            "sequential": sequential_samples(
                ctx.split,
                stage="train",
                max_history=p["max_history"],
                rng=rng,
                prefixes_per_user=p["prefixes_per_user"],
            ),
        }
        if "direct" in p["rank_families"].split(","):
            out["direct"] = direct_samples(
                ctx.split,
                stage="train",
                rng=rng,
                n_candidates=p["direct_candidates"],
                max_history=p["max_history"],
            )
        if ctx.explanation is not None:
            out["explanation"] = explanation_samples(
                ctx.explanation.examples,
                ctx.explanation.parts,
                part="train",
                dataset=ctx.dataset,
                rng=rng,
            )
        return out

    def _tokenizer_corpus(
        self, ctx: FitContext, samples: dict[str, list[Sample]], rng: np.random.Generator
    ) -> list[str]:
        """Text the CPU tokenizer learns from: a training epoch, every template, titles."""
        texts = [s.source for group in samples.values() for s in group]
        texts += [s.target for group in samples.values() for s in group]
        users = rng.choice(ctx.split.n_users, size=min(50, ctx.split.n_users), replace=False)
        for k in users:
            hist = truncate(ctx.split.train[k], self.params["max_history"])
            fields = {
                "user": int(ctx.split.users[k]),
                "history": hist,
                "item": int(hist[-1]),
                "candidates": hist,
                "target": int(hist[-1]),
                "answer": "yes",
                "title": "title",
                "feature": "feature",
                "explanation": "explanation",
            }
            for family in TEMPLATES:
                for t in TEMPLATES[family]:
                    texts.append(render_source(t, **fields))
        titles = ctx.dataset.items["title"].dropna().astype(str).tolist()
        return texts + titles

    def fit(self, ctx: FitContext) -> None:
        p = self.params
        t_start = time.perf_counter()
        torch.manual_seed(ctx.seed)
        rng = np.random.default_rng(ctx.seed)
        self.device = torch.device(ctx.device)
        self.n_items = ctx.split.n_items
        self.show_progress = ctx.show_progress
        items = ctx.dataset.items
        self.titles = {
            int(i): t for i, t in zip(items["item"], items["title"]) if isinstance(t, str) and t
        }

        samples = self._epoch_samples(ctx, rng)
        if self.profile == "paper":
            path = find_t5_small(p["backbone"])
            self.tokenizer = load_tokenizer(path)
            self.backbone = build_backbone("paper", backbone_path=path)
        else:
            self.tokenizer = train_tokenizer(
                self._tokenizer_corpus(ctx, samples, rng),
                vocab_size=p["vocab_size"],
                split_digits=p["id_tokens"] == "digits",
            )
            self.backbone = build_backbone(
                "cpu",
                vocab_size=len(self.tokenizer),
                d_model=p["d_model"],
                d_ff=p["d_ff"],
                num_layers=p["num_layers"],
                num_decoder_layers=p["num_layers"],
                num_heads=p["num_heads"],
                d_kv=p["d_model"] // p["num_heads"],
                dropout_rate=p["dropout"],
            )
        if p["fast_dropout"]:
            use_fast_dropout(self.backbone.t5)
        self.backbone.to(self.device)
        self._build_prompts(ctx)
        self.trie = self._item_trie(ctx.split.n_items)

        params = list(self.backbone.parameters()) + self.extra_parameters()
        optim = torch.optim.AdamW(params, lr=p["lr"], weight_decay=p["weight_decay"])
        steps_per_epoch = sum(math.ceil(len(v) / p["batch_size"]) for v in samples.values())
        total = max(1, steps_per_epoch * p["epochs"])
        # the warm-up is a share of the cap under P5's linear schedule; under the constant one
        # it is the same share of 10 epochs (P5's recipe), so raising the cap does not stretch it
        warm_of = total if p["lr_schedule"] == "linear" else steps_per_epoch * WARMUP_EPOCHS
        warm = max(1, int(p["warmup"] * warm_of))
        if p["lr_schedule"] == "constant":  # warm-up, then lr until the fit stops
            sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: min((s + 1) / warm, 1.0))
        else:  # P5's: warm-up, then linear decay to zero at the epoch cap
            sched = torch.optim.lr_scheduler.LambdaLR(
                optim, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
            )
        valid_idx = np.sort(
            rng.choice(
                ctx.split.n_users, size=min(p["valid_users"], ctx.split.n_users), replace=False
            )
        )
        valid_expl = self._valid_explanation_samples(ctx)
        select_on = self._select_on(ctx, has_valid_explanations=bool(valid_expl))
        history: list[dict[str, float]] = []
        n_samples, train_seconds = 0, 0.0

        def run_epoch(epoch: int) -> float:
            nonlocal samples, n_samples, train_seconds
            if epoch > 1:
                samples = self._epoch_samples(ctx, rng)
            batches = interleave(samples, rng, p["batch_size"], length_pool=p["length_pool"])
            self._train_mode(True)
            t0 = time.perf_counter()
            bar = tqdm(
                batches,
                desc=f"{self.name} epoch {epoch}",
                leave=False,
                disable=not ctx.show_progress,
            )
            total_loss = 0.0
            for batch in bar:
                loss = self._loss(batch)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(params, p["clip"])
                optim.step()
                sched.step()
                total_loss += float(loss.detach()) * len(batch)
                n_samples += len(batch)
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
            train_seconds += time.perf_counter() - t0
            self._train_mode(False)
            ndcg = self._valid_ndcg(ctx, valid_idx, p["seq_template"])
            history.append(
                {
                    "epoch": epoch,
                    "loss": total_loss / max(1, sum(map(len, batches))),
                    "valid_ndcg@10": ndcg,
                }
            )
            if valid_expl:
                history[-1]["valid_explanation_loss"] = self._mean_loss(valid_expl)
            if ctx.show_progress:
                tqdm.write(
                    f"{self.name} epoch {epoch}: "
                    + ", ".join(f"{k} {v:.4f}" for k, v in history[-1].items() if k != "epoch")
                )
            return -history[-1]["valid_explanation_loss"] if select_on == "explanation" else ndcg

        def training_state() -> dict[str, Any]:
            return {"model": self._state(), "optim": optim.state_dict(),
                    "sched": sched.state_dict(), "rng": rng.bit_generator.state,
                    "history": history, "n_samples": n_samples,
                    "train_seconds": train_seconds}  # fmt: skip

        def load_training_state(state: dict[str, Any]) -> None:
            nonlocal n_samples, train_seconds
            self._load_state(state["model"])
            optim.load_state_dict(state["optim"])
            sched.load_state_dict(state["sched"])
            rng.bit_generator.state = state["rng"]  # the next epoch draws its samples from it
            history[:] = state["history"]
            n_samples, train_seconds = state["n_samples"], state["train_seconds"]

        stopper = train_epochs(p["epochs"], p["patience"], run_epoch, self._state,
                               self._load_state, checkpoint=ctx.checkpoint,
                               training_state=training_state,
                               load_training_state=load_training_state,
                               time_limit=p["time_limit"])  # fmt: skip
        self._train_mode(False)
        unseen = self._valid_ndcg(ctx, valid_idx, p["unseen_template"])
        best = history[stopper.best_epoch - 1] if stopper.best_epoch else {}
        self.fit_info = {
            **stop_info(stopper),
            "selected_on": select_on,
            "lr_schedule": p["lr_schedule"],
            "final_lr": float(sched.get_last_lr()[0]),
            "best_valid_ndcg@10": best.get("valid_ndcg@10"),
            **(
                {"best_valid_explanation_loss": best["valid_explanation_loss"]}
                if "valid_explanation_loss" in best
                else {}
            ),
            "valid_ndcg@10_seen_template": best.get("valid_ndcg@10"),
            "valid_ndcg@10_unseen_template": unseen,
            "seen_template": p["seq_template"],
            "unseen_template": p["unseen_template"],
            "families": list(samples),
            "history": history,
            "train_samples": n_samples,
            "train_samples_per_second": n_samples / train_seconds if train_seconds else 0.0,
            "fit_seconds": time.perf_counter() - t_start,
            "vocab_size": len(self.tokenizer),
            "n_parameters": sum(t.numel() for t in params),
            "ranking": p["ranking"],
        }

    def _select_on(self, ctx: FitContext, *, has_valid_explanations: bool) -> str:
        """The validation that picks the epoch (``select_on``, "auto" resolved): a run that only
        generates text is judged on text, not on a ranking task it does not report."""
        choice = self.params["select_on"]
        if choice == "auto":
            only_text = bool(ctx.task_names) and all(
                parse_variant(t)[0] == "explanation" for t in ctx.task_names
            )
            choice = "explanation" if only_text else "sequential"
        if choice == "explanation" and not has_valid_explanations:
            raise ConfigError(
                f"{self.name}: select_on=explanation needs validation explanations, and this "
                "dataset has none; use select_on: sequential"
            )
        return choice

    def _valid_explanation_samples(self, ctx: FitContext) -> list[Sample]:
        """The validation explanations with the seen evaluation template, as loss samples."""
        if ctx.explanation is None:
            return []
        rows = ctx.explanation.part("valid")
        template = get_template(self.params["expl_template"])
        return [
            Sample(self._explanation_source(template, u, i, f), str(e), "explanation",
                   template.id, int(u))
            for u, i, f, e in zip(rows["user"], rows["item"], rows["feature"], rows["explanation"])
        ]  # fmt: skip

    def _explanation_source(self, template: Template, user: Any, item: Any, feature: str) -> str:
        """The evaluation input asking ``user`` to explain ``item`` under ``feature``."""
        return self.eval_source("explanation", template, user=int(user), item=int(item),
                                feature=feature, title=self.titles.get(int(item)))  # fmt: skip

    @torch.no_grad()
    def _mean_loss(self, samples: list[Sample]) -> float:
        """Teacher-forced loss over ``samples`` (mean of the batches' token means, weighted by
        batch size), in eval mode."""
        bs = self.params["eval_batch_size"]
        total = 0.0
        for start in range(0, len(samples), bs):
            batch = samples[start : start + bs]
            total += float(self._loss(batch)) * len(batch)
        return total / len(samples)

    def _build_prompts(self, ctx: FitContext) -> None:
        """Create method-specific trainable prompt parameters (POD); nothing in P5."""

    def _train_mode(self, on: bool) -> None:
        assert self.backbone is not None
        self.backbone.train(on)

    def _state(self) -> dict[str, Any]:
        assert self.backbone is not None
        return {
            "backbone": copy.deepcopy(self.backbone.state_dict()),
            "extra": [t.detach().clone() for t in self.extra_parameters()],
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        assert self.backbone is not None
        self.backbone.load_state_dict(state["backbone"])
        with torch.no_grad():
            for t, saved in zip(self.extra_parameters(), state["extra"]):
                t.copy_(saved)

    def _loss(self, batch: list[Sample]) -> torch.Tensor:
        assert self.backbone is not None
        p = self.params
        enc = encode_batch(self.tokenizer, [s.source for s in batch], p["max_input_len"])
        labels = encode_targets(self.tokenizer, [s.target for s in batch], p["max_target_len"])
        enc = {k: v.to(self.device) for k, v in enc.items()}
        prefix = self.prefix(batch[0].family, np.array([s.user for s in batch]))
        return self.backbone(
            enc["input_ids"],
            enc["attention_mask"],
            enc["whole_word_ids"],
            labels.to(self.device),
            prefix=prefix,
        )

    def _item_trie(self, n_items: int) -> ItemTrie:
        items = list(range(1, n_items + 1))
        tokens = self.tokenizer([str(i) for i in items], add_special_tokens=True)["input_ids"]
        return ItemTrie.from_sequences(items, tokens, eos_id=self.tokenizer.eos_token_id)

    # ------------------------------------------------------------------ inference
    def _encode(
        self, family: str, sources: Sequence[str], users: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.backbone is not None
        enc = encode_batch(self.tokenizer, list(sources), self.params["max_input_len"])
        enc = {k: v.to(self.device) for k, v in enc.items()}
        with torch.inference_mode():
            return self.backbone.encode(
                enc["input_ids"],
                enc["attention_mask"],
                enc["whole_word_ids"],
                prefix=self.prefix(family, np.asarray(users)),
            )

    def _sequential_sources(
        self, users: np.ndarray, histories: list[np.ndarray], template_id: str
    ) -> list[str]:
        template = get_template(template_id)
        return [
            self.eval_source(
                "sequential", template, user=int(u), history=truncate(h, self.params["max_history"])
            )
            for u, h in zip(users, histories)
        ]

    def _score_all(
        self, users: np.ndarray, histories: list[np.ndarray], template_id: str
    ) -> torch.Tensor:
        out = []
        bs = self.params["eval_batch_size"]
        for start in range(0, len(users), bs):
            sl = slice(start, start + bs)
            hidden, mask = self._encode(
                "sequential",
                self._sequential_sources(users[sl], histories[sl], template_id),
                users[sl],
            )
            table = torch.full((hidden.shape[0], self.n_items + 1), -math.inf, device=hidden.device)
            assert self.backbone is not None
            if self.params["ranking"] == "exact":
                scores = score_all_items(self.backbone.t5, hidden, mask, self.trie)
                table[:, self.trie.item_ids.to(hidden.device)] = scores
            elif self.params["ranking"] == "free":
                self._free_generation_scores(hidden, mask, table)
            else:
                items, scores = constrained_beam_search(
                    self.backbone.t5,
                    hidden,
                    mask,
                    self.trie,
                    num_beams=self.params["num_beams"],
                    pool_all_finished=self.params["beam_keep_all_finished"],
                )
                found = items >= 0
                rows = torch.arange(len(items), device=hidden.device)[:, None].expand_as(items)
                table[rows[found], items[found]] = scores[found]
            out.append(table.cpu())
        return torch.cat(out)

    def _free_generation_scores(
        self, hidden: torch.Tensor, mask: torch.Tensor, table: torch.Tensor
    ) -> None:
        """Unconstrained beam search: beam k scores ``num_beams - k``; outputs that spell no
        item are counted in ``predict_info`` (never replaced by some item), and rank nothing."""
        assert self.backbone is not None
        beams = unconstrained_beam_search(
            self.backbone.t5,
            hidden,
            mask,
            max_new_tokens=self.trie.depth,
            num_beams=self.params["num_beams"],
        )
        invalid = total = 0
        for row, seqs in enumerate(beams):
            for k, tokens in enumerate(seqs):
                item = self.trie.decode(tokens)
                total += 1
                if item < 0:
                    invalid += 1
                elif not math.isfinite(float(table[row, item])):
                    table[row, item] = float(len(seqs) - k)
        info = self.predict_info
        info["generated_ids"] = info.get("generated_ids", 0) + total
        info["invalid_ids"] = info.get("invalid_ids", 0) + invalid
        info["invalid_output_rate"] = info["invalid_ids"] / max(1, info["generated_ids"])

    def score_all(self, users: np.ndarray, histories: list[np.ndarray]) -> torch.Tensor:
        return self._score_all(users, histories, self.eval_template_id("sequential"))

    def _valid_ndcg(self, ctx: FitContext, idx: np.ndarray, template_id: str) -> float:
        """Validation NDCG@10 of the users ``idx`` asked with the sequential ``template_id``."""
        return valid_ndcg(
            lambda u, h: self._score_all(u, h, template_id),
            ctx.split.users[idx],
            [ctx.split.train[i] for i in idx],
            ctx.split.valid[idx],
            self.params["eval_batch_size"],
        )

    def score_candidates(
        self, users: np.ndarray, histories: list[np.ndarray], candidates: np.ndarray
    ) -> torch.Tensor:
        assert self.backbone is not None
        template_id = self.eval_template_id("sequential")
        hidden, mask = self._encode(
            "sequential", self._sequential_sources(users, histories, template_id), users
        )
        seqs = [self.trie.sequence_of(int(c) - 1) for c in np.asarray(candidates).ravel()]
        width = max(len(s) for s in seqs)
        tokens = torch.zeros(len(seqs), width, dtype=torch.long)
        for row, seq in enumerate(seqs):
            tokens[row, : len(seq)] = torch.as_tensor(seq)
        tokens = tokens.view(*np.asarray(candidates).shape, width).to(hidden.device)
        return score_candidates(self.backbone.t5, hidden, mask, tokens).cpu()

    def generate_explanations(
        self, users: np.ndarray, items: np.ndarray, features: list[str]
    ) -> list[str]:
        assert self.backbone is not None
        p = self.params
        template = get_template(self.eval_template_id("explanation"))
        out: list[str] = []
        bs = p["eval_batch_size"]
        for start in tqdm(
            range(0, len(users), bs),
            desc=f"{self.name} explain",
            leave=False,
            disable=not self.show_progress,
        ):
            sl = slice(start, start + bs)
            sources = [self._explanation_source(template, u, i, f)
                       for u, i, f in zip(users[sl], items[sl], features[sl])]  # fmt: skip
            hidden, mask = self._encode("explanation", sources, users[sl])
            gen = beam_generate(
                self.backbone.t5,
                hidden,
                mask,
                num_beams=p["expl_beams"],
                num_beam_groups=p["expl_groups"],
                diversity_penalty=p["expl_diversity"],
                min_new_tokens=p["expl_min_length"],
                max_new_tokens=p["expl_max_length"],
            )
            out += [t.strip() for t in self.tokenizer.batch_decode(gen, skip_special_tokens=True)]
        return out
