"""Exact scores of item token sequences under a T5 decoder.

An item's score is the sum of the model's whole-vocabulary log-probabilities of its tokens, EOS
included (optionally divided by the token count) — the quantity beam search ranks by. Two entry
points: :func:`score_candidates` for a sampled candidate list per user (teacher forcing), and
:func:`score_all_items` for an exact ranking of the whole catalogue, which walks the item trie so
that each shared prefix is decoded once per user: the decoder runs once per internal trie node
rather than once per item token.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .decoder import IncrementalDecoder, decoder_start_id, eos_id
from .trie import ItemTrie

__all__ = ["score_candidates", "score_all_items"]


def _pad_id(t5: nn.Module) -> int:
    pad = getattr(t5.config, "pad_token_id", None)
    return 0 if pad is None else int(pad)


@torch.inference_mode()
def score_candidates(
    t5: nn.Module,
    encoder_hidden: torch.Tensor,
    encoder_mask: torch.Tensor | None,
    candidate_tokens: torch.Tensor,
    chunk: int = 32,
    length_normalise: bool = False,
) -> torch.Tensor:
    """Log-probability of each candidate sequence: ``[B, C, T] -> [B, C]``.

    ``candidate_tokens`` is right-padded with the pad id after EOS; tokens after the first EOS and
    pad tokens are excluded. A candidate with no tokens at all (a padding row) scores ``-inf``.
    ``length_normalise`` returns the mean log-probability per counted token instead of the sum.
    ``chunk`` candidates per user go through the decoder together; the logits of one pass take
    ``B * chunk * T * vocab * 4`` bytes.
    """
    if candidate_tokens.dim() != 3:
        raise ValueError(f"candidate_tokens must be [B, C, T], got {tuple(candidate_tokens.shape)}")
    device = encoder_hidden.device
    tokens = candidate_tokens.to(device=device, dtype=torch.long)
    b, n_cand, _ = tokens.shape
    out = torch.full((b, n_cand), float("-inf"), dtype=torch.float32, device=device)
    if n_cand == 0 or tokens.shape[2] == 0:
        return out

    is_eos = tokens == eos_id(t5)
    before_eos = (torch.cumsum(is_eos.long(), -1) - is_eos.long()) == 0
    counted = before_eos & (tokens != _pad_id(t5))
    # Trim trailing all-padding columns (one host sync) so padded batches cost no extra steps.
    length = int(counted.any(dim=(0, 1)).nonzero().max()) + 1 if counted.any() else 0
    if length == 0:
        return out
    tokens, counted = tokens[:, :, :length], counted[:, :, :length]
    start = torch.full((b, n_cand, 1), decoder_start_id(t5), dtype=torch.long, device=device)
    inputs = torch.cat([start, tokens[:, :, :-1]], dim=2)

    dec = IncrementalDecoder(t5, encoder_hidden, encoder_mask, 1, max_steps=length)
    chunk = max(1, int(chunk))
    for lo in range(0, n_cand, chunk):
        hi = min(lo + chunk, n_cand)
        dec.reset(hi - lo)
        logits = dec.logits(dec.hidden(inputs[:, lo:hi])).float()  # [B, c, T, V]
        norm = torch.logsumexp(logits, dim=-1)
        logp = logits.gather(-1, tokens[:, lo:hi].unsqueeze(-1)).squeeze(-1) - norm
        del logits, norm
        mask = counted[:, lo:hi]
        total = logp.masked_fill(~mask, 0.0).sum(-1)
        n_tok = mask.sum(-1)
        if length_normalise:
            total = total / n_tok.clamp(min=1)
        out[:, lo:hi] = total.masked_fill(n_tok == 0, float("-inf"))
    return out


@torch.inference_mode()
def score_all_items(
    t5: nn.Module,
    encoder_hidden: torch.Tensor,
    encoder_mask: torch.Tensor | None,
    trie: ItemTrie,
    max_rows: int = 1024,
) -> torch.Tensor:
    """Exact summed log-probability of every trie item for every user: ``[B, trie.n_items]``.

    Column ``j`` is item ``trie.item_ids[j]`` (the order given to ``ItemTrie.from_sequences``); to
    index by item id, ``table = torch.full((B, n_ids), -inf); table[:, trie.item_ids] = scores``.

    The trie is walked depth first in chunks of sibling-level nodes: each chunk forks the
    self-attention caches of its parents (``index_select``), runs one decoder step for all
    ``B x chunk`` streams and reads off the children's log-probabilities, so the decoder runs once
    per internal node per user. ``max_rows`` bounds ``B x chunk`` (the logits of one step take
    ``max_rows * vocab * 4`` bytes); pending chunks keep memory proportional to depth x chunk.
    """
    device = encoder_hidden.device
    b = encoder_hidden.shape[0]
    trie = trie.to(device)
    ptr, child_token = trie.host("child_ptr"), trie.host("child_token")
    child_node, node_item = trie.host("child_node"), trie.host("node_item")
    node_token, node_col = trie.host("node_token"), trie.host("node_col")
    streams = max(1, int(max_rows) // max(b, 1))
    start_token = decoder_start_id(t5)
    out = torch.full((b, trie.n_items), float("-inf"), dtype=torch.float32, device=device)

    def as_index(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64)).to(device)

    root_dec = IncrementalDecoder(t5, encoder_hidden, encoder_mask, 1, max_steps=trie.depth)
    # Stack entries: (decoder holding the parents' streams, parent stream per node or None,
    # node ids [S], prefix scores [B, S]).
    stack: list[tuple[IncrementalDecoder, np.ndarray | None, np.ndarray, torch.Tensor]] = [
        (root_dec, None, np.zeros(1, dtype=np.int64), torch.zeros(b, 1, device=device))
    ]
    while stack:
        parent_dec, parent_stream, nodes, prefix = stack.pop()
        if parent_stream is None:
            dec = parent_dec
            step_tokens = np.full(len(nodes), start_token, dtype=np.int64)
        else:
            dec = parent_dec.fork(as_index(parent_stream).unsqueeze(0).expand(b, -1))
            step_tokens = node_token[nodes]
        lo, hi = ptr[nodes], ptr[nodes + 1]
        degree = hi - lo
        n_child = int(degree.max())
        slot = np.arange(n_child)
        valid = slot[None, :] < degree[:, None]
        edge = np.where(valid, lo[:, None] + slot[None, :], 0)
        tok = np.where(valid, child_token[edge], 0)
        logp = dec.step_gather(
            as_index(step_tokens).unsqueeze(0).expand(b, -1),
            as_index(tok).unsqueeze(0).expand(b, -1, -1),
        )  # [B, S, K]
        scores = prefix.unsqueeze(-1) + logp
        rows, cols = np.nonzero(valid)
        kids = child_node[edge[rows, cols]]
        leaf = node_item[kids] >= 0
        if leaf.any():
            leaf_scores = scores[:, as_index(rows[leaf]), as_index(cols[leaf])]
            out[:, as_index(node_col[kids[leaf]])] = leaf_scores
        inner_rows, inner_cols, inner_nodes = rows[~leaf], cols[~leaf], kids[~leaf]
        # Push in reverse so the first chunk is expanded next (depth first, bounded memory).
        for c_lo in reversed(range(0, len(inner_nodes), streams)):
            c_hi = c_lo + streams
            r, c = inner_rows[c_lo:c_hi], inner_cols[c_lo:c_hi]
            stack.append((dec, r, inner_nodes[c_lo:c_hi], scores[:, as_index(r), as_index(c)]))
    return out
