"""An incremental T5 decoder for many decoding streams per user, re-using ``t5.decoder``'s weights.

transformers' beam search spends most of its time on work that generative recommendation does not
need: it copies the encoder output per beam and recomputes the cross-attention keys/values from
each copy, reorders that per-beam cross-attention cache every step, and grows the self-attention
cache by concatenation. Here the cross-attention keys/values are computed once per user and layer
and all of a user's streams (beams, trie nodes, candidates) attend to them as extra *query rows*
of one attention per user (cross-attention has neither a causal mask nor a position bias, so this
is exact); only the small self-attention cache ``[B*S, layers, 2, heads, max_steps, d_kv]`` is
preallocated and reordered.

The computation follows ``transformers.models.t5.modeling_t5`` exactly: RMS layer norm without
mean subtraction; self-attention with the relative position bias of the first block shared by all
blocks (``bidirectional=False`` buckets in the decoder) and no ``1/sqrt(d)`` score scaling;
cross-attention without position bias; the feed-forward (ReLU or gated GELU) with the block's own
activation function; the final layer norm; and ``d_model ** -0.5`` output scaling before
``lm_head`` for tied-embedding (original T5) configs. No dropout is applied, so results are those
of the model in eval mode. On CPU the weights are kept once more, transposed, per model (about
170 MB for t5-small; see ``_Weights``).
"""

from __future__ import annotations

import math
import weakref

import torch
from torch import nn

__all__ = ["IncrementalDecoder", "decoder_start_id", "eos_id", "relative_position_bucket"]


def decoder_start_id(t5: nn.Module) -> int:
    """The decoder start token: ``config.decoder_start_token_id``, else the pad id (T5's choice)."""
    for cfg in (t5.config, getattr(t5, "generation_config", None)):
        value = getattr(cfg, "decoder_start_token_id", None) if cfg is not None else None
        if value is not None:
            return int(value)
    pad = getattr(t5.config, "pad_token_id", None)
    return 0 if pad is None else int(pad)


def eos_id(t5: nn.Module) -> int:
    """The (first) EOS id of the model's config."""
    value = t5.config.eos_token_id
    if isinstance(value, (list, tuple)):
        value = value[0]
    return 1 if value is None else int(value)


def relative_position_bucket(
    relative_position: torch.Tensor,
    bidirectional: bool = True,
    num_buckets: int = 32,
    max_distance: int = 128,
) -> torch.Tensor:
    """T5's relative-position bucketing (Mesh TensorFlow), op for op as in transformers."""
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    if_large = max_exact + (
        torch.log(relative_position.float() / max_exact)
        / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).to(torch.long)
    if_large = torch.min(if_large, torch.full_like(if_large, num_buckets - 1))
    return buckets + torch.where(is_small, relative_position, if_large)


class _Weights:
    """The decoder's matrices laid out for ``x @ W`` (input dimension first), built once per model.

    Self-attention ``q|k|v`` and every layer's cross-attention ``k|v`` are concatenated so each
    takes one matmul. On CPU the matrices are stored transposed and contiguous: with the few
    rows of a beam step (20 per user) ``x @ W`` ran ~2x faster than ``x @ W.T`` on the reference
    machine; on other devices they stay views of the model's weights (only the concatenations
    are copies).
    """

    def __init__(self, t5: nn.Module) -> None:
        copy = t5.lm_head.weight.device.type == "cpu"

        def t(w: torch.Tensor) -> torch.Tensor:
            return w.t().contiguous() if copy else w.t()

        self.qkv, self.self_o, self.cross_q, self.cross_o, self.ff = [], [], [], [], []
        cross_kv = []
        for block in t5.decoder.block:
            sa, ca = block.layer[0].SelfAttention, block.layer[1].EncDecAttention
            self.qkv.append(torch.cat([sa.q.weight, sa.k.weight, sa.v.weight]).t().contiguous())
            self.self_o.append(t(sa.o.weight))
            self.cross_q.append(t(ca.q.weight))
            self.cross_o.append(t(ca.o.weight))
            cross_kv += [ca.k.weight, ca.v.weight]
            ff = block.layer[-1].DenseReluDense
            if hasattr(ff, "wi_0"):  # T5DenseGatedActDense: act(x wi_0) * (x wi_1), then wo
                self.ff.append((ff.act, t(ff.wi_0.weight), t(ff.wi_1.weight), t(ff.wo.weight)))
            else:  # T5DenseActDense: act(x wi), then wo
                self.ff.append((ff.act, t(ff.wi.weight), None, t(ff.wo.weight)))
        self.cross_kv = torch.cat(cross_kv).t().contiguous()
        self.lm_head = t(t5.lm_head.weight)


_WEIGHTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _weights(t5: nn.Module) -> _Weights:
    """:class:`_Weights` for ``t5``, cached and re-used by every decoder built on it.

    Building costs tens of milliseconds on t5-small; the cache is keyed on every source tensor's
    storage and version counter, so a training step, ``load_state_dict`` or ``.to()`` rebuilds.
    """
    sources = [t5.lm_head.weight]
    for block in t5.decoder.block:
        sources += [p for layer in block.layer for p in layer.parameters()]
    key = tuple((w.data_ptr(), w._version, w.dtype, w.device, tuple(w.shape)) for w in sources)
    hit = _WEIGHTS.get(t5)
    if hit is None or hit[0] != key:
        hit = (key, _Weights(t5))
        _WEIGHTS[t5] = hit
    return hit[1]


def _gather_rows(
    src: torch.Tensor, index: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``src[index]`` along dim 0 as a 2-D ``gather``.

    ``index_select`` is avoided on purpose: on a CPU shared with other busy processes its
    multi-threaded kernel was measured 100x slower than ``gather`` (seconds for a 24 MB copy).
    """
    flat_src = src.reshape(src.shape[0], -1)
    idx = index.view(-1, 1).expand(-1, flat_src.shape[1])
    if out is None:
        return torch.gather(flat_src, 0, idx).view(index.shape[0], *src.shape[1:])
    torch.gather(flat_src, 0, idx, out=out.view(index.shape[0], -1))
    return out


class IncrementalDecoder:
    """Decoder state for ``B`` users × ``S`` streams each, stepping all streams together.

    ``encoder_hidden [B, L, d]`` and ``encoder_mask [B, L]`` are the precomputed encoder outputs
    (they may start with soft-prompt vectors; no input ids are needed). Streams of a user share
    that user's cross-attention keys/values. The stream count may change at every
    :meth:`reorder` (``S -> S'``), which is how beams are expanded from the single start stream and
    how a trie walk forks one stream per child node.

    Call ``step`` (one new token per stream) or ``extend`` (``T`` new tokens per stream, causal
    among themselves, e.g. teacher forcing) any number of times; positions continue from the
    tokens already fed. Everything runs under ``torch.inference_mode()``.
    """

    @torch.inference_mode()
    def __init__(
        self,
        t5: nn.Module,
        encoder_hidden: torch.Tensor,
        encoder_mask: torch.Tensor | None,
        n_streams_per_user: int = 1,
        max_steps: int = 16,
    ) -> None:
        if encoder_hidden.dim() != 3:
            raise ValueError(f"encoder_hidden must be [B, L, d], got {tuple(encoder_hidden.shape)}")
        cfg = t5.config
        dec = t5.decoder
        self.t5 = t5
        self.n_layers = len(dec.block)
        self.n_heads = int(cfg.num_heads)
        self.d_kv = int(cfg.d_kv)
        self.inner = self.n_heads * self.d_kv
        self.d_model = int(cfg.d_model)
        self.batch = int(encoder_hidden.shape[0])
        self.device = encoder_hidden.device
        self.dtype = dec.embed_tokens.weight.dtype
        self.scale_output = bool(
            getattr(cfg, "scale_decoder_outputs", getattr(cfg, "tie_word_embeddings", True))
        )
        self.vocab_size = int(t5.lm_head.weight.shape[0])

        self._embed = dec.embed_tokens.weight
        self._w = _weights(t5)
        self._final_norm = dec.final_layer_norm
        self._self_norm = [block.layer[0].layer_norm for block in dec.block]
        self._cross_norm = [block.layer[1].layer_norm for block in dec.block]
        self._ff_norm = [block.layer[-1].layer_norm for block in dec.block]
        self._rel_bias = dec.block[0].layer[0].SelfAttention.relative_attention_bias.weight
        self._num_buckets = int(cfg.relative_attention_num_buckets)
        self._max_distance = int(cfg.relative_attention_max_distance)

        # Cross-attention K/V of every layer in one matmul: [B, L, layers*2*inner], then laid out
        # once as keys pre-transposed [layers, B, H, dk, L] and values [layers, B, H, L, dk].
        hidden = encoder_hidden.to(self.dtype)
        b, length = hidden.shape[:2]
        kv = torch.matmul(hidden, self._w.cross_kv)
        kv = kv.view(b, length, self.n_layers, 2, self.n_heads, self.d_kv)
        self._cross_k = kv[:, :, :, 0].permute(2, 0, 3, 4, 1).contiguous()
        self._cross_v = kv[:, :, :, 1].permute(2, 0, 3, 1, 4).contiguous()
        if encoder_mask is None:
            self._cross_mask = None
        else:
            keep = encoder_mask.to(self.device).bool().view(b, 1, 1, length)
            self._cross_mask = torch.zeros(keep.shape, dtype=self.dtype, device=self.device)
            self._cross_mask.masked_fill_(~keep, torch.finfo(self.dtype).min)

        self.max_steps = 0
        self._bias = torch.empty(0)
        self._ensure_bias(max(int(max_steps), 1))
        self.n_streams = int(n_streams_per_user)
        self.position = 0
        self._set_cache(self._new_cache(self.n_streams, self.max_steps))
        self._scratch = torch.empty(0, self.vocab_size, device=self.device)

    # ------------------------------------------------------------------ state
    def _new_cache(self, n_streams: int, max_steps: int) -> torch.Tensor:
        shape = (self.batch * n_streams, self.n_layers, 2, self.n_heads, max_steps, self.d_kv)
        return torch.empty(shape, dtype=self.dtype, device=self.device)

    def _set_cache(self, base: torch.Tensor, spare: torch.Tensor | None = None) -> None:
        """The live cache is the first ``B*S`` rows of ``base``; ``spare`` is the reorder target.

        Reordering gathers into the spare buffer and swaps the two, so a beam search allocates
        its cache memory once instead of once per step.
        """
        self._cache_base = base
        self._cache = base[: self.batch * self.n_streams]
        self._cache_spare = spare

    def _ensure_bias(self, max_steps: int) -> None:
        """Causal self-attention bias ``[H, T, T]`` (relative position bias + causal mask)."""
        if max_steps <= self.max_steps:
            return
        pos = torch.arange(max_steps, dtype=torch.long, device=self.device)
        relative = pos[None, :] - pos[:, None]  # memory - query
        bucket = relative_position_bucket(
            relative, bidirectional=False, num_buckets=self._num_buckets,
            max_distance=self._max_distance,
        )  # fmt: skip
        bias = self._rel_bias[bucket].permute(2, 0, 1).to(self.dtype)  # [H, T, T]
        future = relative > 0
        self._bias = bias.masked_fill(future, torch.finfo(self.dtype).min).contiguous()
        if hasattr(self, "_cache") and self._cache.shape[4] < max_steps:
            grown = self._new_cache(self.n_streams, max_steps)
            grown[..., : self.position, :] = self._cache[..., : self.position, :]
            self._set_cache(grown)
        self.max_steps = max_steps

    @torch.inference_mode()
    def reset(self, n_streams_per_user: int) -> None:
        """Forget all fed tokens and start ``n_streams_per_user`` fresh streams per user."""
        self.n_streams = int(n_streams_per_user)
        self.position = 0
        if self._cache_base.shape[0] < self.batch * self.n_streams:
            self._set_cache(self._new_cache(self.n_streams, self.max_steps))
        else:
            self._set_cache(self._cache_base, self._cache_spare)

    def _flat_index(self, beam_idx: torch.Tensor) -> torch.Tensor:
        beam_idx = beam_idx.to(device=self.device, dtype=torch.long)
        if beam_idx.dim() != 2 or beam_idx.shape[0] != self.batch:
            raise ValueError(f"beam_idx must be [B={self.batch}, S'], got {tuple(beam_idx.shape)}")
        offset = torch.arange(self.batch, device=self.device).unsqueeze(1) * self.n_streams
        return (beam_idx + offset).reshape(-1)

    @torch.inference_mode()
    def reorder(self, beam_idx: torch.Tensor) -> None:
        """Make ``S'`` new streams: stream ``j`` of user ``b`` continues old ``beam_idx[b, j]``."""
        flat = self._flat_index(beam_idx)
        rows = flat.shape[0]
        spare = self._cache_spare
        if spare is None or spare.shape[0] < rows or spare.shape[1:] != self._cache.shape[1:]:
            spare = self._new_cache(beam_idx.shape[1], self._cache.shape[4])
        _gather_rows(self._cache, flat, out=spare[:rows])
        self.n_streams = int(beam_idx.shape[1])
        self._set_cache(spare, self._cache_base)

    @torch.inference_mode()
    def fork(self, beam_idx: torch.Tensor) -> IncrementalDecoder:
        """Like :meth:`reorder` but into a new decoder, leaving this one untouched.

        The fork shares the (read-only) cross-attention keys/values and weights; only the
        selected streams' self-attention cache is copied.
        """
        flat = self._flat_index(beam_idx)
        new = object.__new__(IncrementalDecoder)
        new.__dict__.update(self.__dict__)
        new.n_streams = int(beam_idx.shape[1])
        new._set_cache(_gather_rows(self._cache, flat))  # own buffers: never share the spare
        return new

    # ------------------------------------------------------------------ forward
    def _attend_self(self, layer: int, x: torch.Tensor, start: int, n_new: int) -> torch.Tensor:
        """Causal self-attention of ``n_new`` new positions; x is ``[B*S, T, d]`` (normed)."""
        rows = x.shape[0]
        qkv = torch.matmul(x, self._w.qkv[layer]).view(rows, n_new, 3, self.n_heads, self.d_kv)
        q = qkv[:, :, 0].transpose(1, 2)  # [N, H, T, dk]
        end = start + n_new
        cache = self._cache[:, layer]  # [N, 2, H, Tmax, dk]
        cache[:, 0, :, start:end] = qkv[:, :, 1].transpose(1, 2)
        cache[:, 1, :, start:end] = qkv[:, :, 2].transpose(1, 2)
        keys = cache[:, 0, :, :end]
        values = cache[:, 1, :, :end]
        scores = torch.matmul(q, keys.transpose(-1, -2)) + self._bias[:, start:end, :end]
        weights = torch.softmax(scores.float(), dim=-1).to(q.dtype)
        out = torch.matmul(weights, values)  # [N, H, T, dk]
        out = out.transpose(1, 2).reshape(rows, n_new, self.inner)
        return torch.matmul(out, self._w.self_o[layer])

    def _attend_cross(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """All of a user's streams/positions as query rows of one attention: x is ``[B, R, d]``."""
        b, r = x.shape[:2]
        q = torch.matmul(x, self._w.cross_q[layer]).view(b, r, self.n_heads, self.d_kv)
        q = q.transpose(1, 2)  # [B, H, R, dk]
        scores = torch.matmul(q, self._cross_k[layer])  # [B, H, R, L]
        if self._cross_mask is not None:
            scores = scores + self._cross_mask
        weights = torch.softmax(scores.float(), dim=-1).to(q.dtype)
        out = torch.matmul(weights, self._cross_v[layer])  # [B, H, R, dk]
        out = out.transpose(1, 2).reshape(b, r, self.inner)
        return torch.matmul(out, self._w.cross_o[layer])

    def _feed_forward(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """T5DenseActDense / T5DenseGatedActDense with the block's own activation (no dropout)."""
        act, wi, wi_gate, wo = self._w.ff[layer]
        h = act(torch.matmul(x, wi))
        if wi_gate is not None:
            h = h * torch.matmul(x, wi_gate)
        # transformers keeps ``wo`` in fp32 for some half-precision checkpoints
        return torch.matmul(h.to(wo.dtype), wo).to(x.dtype)

    @torch.inference_mode()
    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed ``tokens [B, S, T]``; return the final (scaled) decoder states ``[B, S, T, d]``."""
        if tokens.dim() != 3 or tokens.shape[0] != self.batch or tokens.shape[1] != self.n_streams:
            raise ValueError(
                f"tokens must be [B={self.batch}, S={self.n_streams}, T], got {tuple(tokens.shape)}"
            )
        b, s, n_new = tokens.shape
        start = self.position
        self._ensure_bias(start + n_new)
        h = self._embed[tokens.to(self.device)].view(b * s, n_new, self.d_model)
        for layer in range(self.n_layers):
            h = h + self._attend_self(layer, self._self_norm[layer](h), start, n_new)
            x = self._cross_norm[layer](h).view(b, s * n_new, self.d_model)
            h = h + self._attend_cross(layer, x).view(b * s, n_new, self.d_model)
            h = h + self._feed_forward(layer, self._ff_norm[layer](h))
        h = self._final_norm(h)
        if self.scale_output:
            h = h * (self.d_model**-0.5)
        self.position = start + n_new
        return h.view(b, s, n_new, self.d_model)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """``lm_head`` over the whole vocabulary."""
        return torch.matmul(hidden, self._w.lm_head)

    @torch.inference_mode()
    def extend(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed ``tokens [B, S, T]``; log-probabilities of the next token ``[B, S, T, V]``."""
        return torch.log_softmax(self.logits(self.hidden(tokens)).float(), dim=-1)

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per stream ``[B, S]``; next-token log-probabilities ``[B, S, V]``."""
        return self.extend(tokens.unsqueeze(-1)).squeeze(2)

    @torch.inference_mode()
    def step_gather(self, tokens: torch.Tensor, next_tokens: torch.Tensor) -> torch.Tensor:
        """Feed ``tokens [B, S]``; log-probabilities of ``next_tokens [B, S, K]`` only.

        The whole-vocabulary log-normaliser is still computed, but the ``[B, S, V]`` log-softmax
        is never materialised: ``logprob = logit[token] - logsumexp(logits)``.
        """
        hidden = self.hidden(tokens.unsqueeze(-1)).squeeze(2)  # [B, S, d]
        next_tokens = next_tokens.to(self.device)
        if self.dtype != torch.float32:
            logits = self.logits(hidden).float()
            norm = torch.logsumexp(logits, dim=-1, keepdim=True)
            return logits.gather(-1, next_tokens) - norm
        # fp32: logits into a reused buffer and an in-place logsumexp, which saves allocating
        # (and page-faulting) two more [B*S, V] tensors per step.
        b, s = hidden.shape[:2]
        rows = b * s
        if self._scratch.shape[0] < rows:
            self._scratch = torch.empty(rows, self.vocab_size, device=self.device)
        logits = self._scratch[:rows]
        torch.mm(hidden.reshape(rows, self.d_model), self._w.lm_head, out=logits)
        picked = logits.gather(-1, next_tokens.reshape(rows, -1))
        peak = logits.amax(-1, keepdim=True)
        norm = logits.sub_(peak).exp_().sum(-1, keepdim=True).log_().add_(peak)
        return (picked - norm).view(b, s, -1)
