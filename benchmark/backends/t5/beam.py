"""Beam search over a T5 decoder: trie-constrained (item generation) and unconstrained.

Scores are sums of the model's true whole-vocabulary token log-probabilities, EOS included, with
**no length normalisation** — the same quantity :mod:`.scoring` computes exactly, so a beam result
can be checked against (and falls back to) exact scoring. The selection rule follows
transformers' beam search (``length_penalty=0.0``, ``early_stopping=False``): each step keeps the
``num_beams`` best unfinished continuations as live beams, and the EOS continuations ranked among
the step's ``num_beams`` best candidates enter a pool of the ``num_beams`` best finished items
(with ``pool_all_finished``, every EOS continuation of a live beam does). Search stops at the trie
depth, when no beam is alive, or when the best live score cannot beat the worst pooled one
(log-probabilities are <= 0, so scores only fall as a beam grows).
"""

from __future__ import annotations

import torch
from torch import nn

from .decoder import IncrementalDecoder, decoder_start_id, eos_id
from .trie import ItemTrie

__all__ = ["constrained_beam_search", "unconstrained_beam_search"]

NEG_INF = float("-inf")


@torch.inference_mode()
def constrained_beam_search(
    t5: nn.Module,
    encoder_hidden: torch.Tensor,
    encoder_mask: torch.Tensor | None,
    trie: ItemTrie,
    num_beams: int = 20,
    return_k: int | None = None,
    pool_all_finished: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top items per user by beam search restricted to the trie's item sequences.

    Returns ``(items [B, k], scores [B, k])`` sorted by score (``k = return_k or num_beams``,
    at most ``num_beams``); slots beyond the items found hold item ``-1`` and score ``-inf``.
    With ``num_beams >= trie.n_items`` the search is exhaustive, i.e. exact.

    ``pool_all_finished=False`` reproduces transformers' ``generate`` (what P5/POD report). With
    items of mixed token lengths that rule drops a short item whose EOS continuation is not among
    its step's ``num_beams`` best candidates even when it would outscore everything finished later;
    ``True`` pools every EOS continuation of a live beam (same live beams, same cost, never a
    worse score at any rank).
    """
    k_out = num_beams if return_k is None else int(return_k)
    if num_beams < 1 or not 1 <= k_out <= num_beams:
        raise ValueError(f"need 1 <= return_k ({k_out}) <= num_beams ({num_beams})")
    device = encoder_hidden.device
    trie = trie.to(device)
    b = encoder_hidden.shape[0]
    dec = IncrementalDecoder(t5, encoder_hidden, encoder_mask, 1, max_steps=trie.depth)

    nodes = torch.zeros(b, 1, dtype=torch.long, device=device)
    tokens = torch.full((b, 1), decoder_start_id(t5), dtype=torch.long, device=device)
    scores = torch.zeros(b, 1, dtype=torch.float32, device=device)
    pool_items = torch.full((b, num_beams), -1, dtype=torch.long, device=device)
    pool_scores = torch.full((b, num_beams), NEG_INF, dtype=torch.float32, device=device)

    for depth in range(trie.depth):
        n_children = trie.max_children_at_depth[depth]
        child_tok, child_node, valid = trie.children(nodes, n_children)  # [B, S, K]
        n_children = child_tok.shape[-1]
        logp = dec.step_gather(tokens, child_tok)
        cand = (scores.unsqueeze(-1) + logp).masked_fill(~valid, NEG_INF).flatten(1)
        child_tok, child_node = child_tok.flatten(1), child_node.flatten(1)
        leaf = trie.is_leaf(child_node)

        if pool_all_finished:  # every EOS continuation of a live beam competes for the pool
            fin_scores = cand.masked_fill(~leaf, NEG_INF)
            fin_items = trie.node_item[child_node]
        else:  # transformers: only EOS continuations among the step's num_beams best candidates
            top_scores, top_idx = cand.topk(min(num_beams, cand.shape[1]), dim=1)
            fin_scores = top_scores.masked_fill(~leaf.gather(1, top_idx), NEG_INF)
            fin_items = trie.node_item[child_node.gather(1, top_idx)]
        pool_scores, keep = torch.cat([pool_scores, fin_scores], 1).topk(num_beams, dim=1)
        pool_items = torch.cat([pool_items, fin_items], 1).gather(1, keep)
        if depth == trie.depth - 1:
            break

        # Live: the num_beams best unfinished continuations.
        live_scores, live_idx = cand.masked_fill(leaf, NEG_INF).topk(
            min(num_beams, cand.shape[1]), dim=1
        )
        n_alive, can_improve = _alive_and_improvable(live_scores, pool_scores)
        if n_alive == 0 or not can_improve:
            break
        live_scores, live_idx = live_scores[:, :n_alive], live_idx[:, :n_alive]
        dec.reorder(torch.div(live_idx, n_children, rounding_mode="floor"))
        nodes = child_node.gather(1, live_idx)
        tokens = child_tok.gather(1, live_idx)
        scores = live_scores

    found = torch.isfinite(pool_scores)
    pool_items = torch.where(found, pool_items, -1)
    return pool_items[:, :k_out], pool_scores[:, :k_out]


def _alive_and_improvable(live_scores: torch.Tensor, pool_scores: torch.Tensor) -> tuple[int, bool]:
    """(most live beams of any user, whether any user's best live beam can still enter its pool).

    One host sync per step; it lets the search drop dead beams and stop early.
    """
    alive = torch.isfinite(live_scores).sum(1).max()
    improvable = (live_scores[:, 0] > pool_scores[:, -1]).any()
    n_alive, can_improve = torch.stack([alive, improvable.long()]).tolist()
    return int(n_alive), bool(can_improve)


@torch.inference_mode()
def unconstrained_beam_search(
    t5: nn.Module,
    encoder_hidden: torch.Tensor,
    encoder_mask: torch.Tensor | None,
    max_new_tokens: int,
    num_beams: int = 20,
) -> list[list[list[int]]]:
    """Free beam search (for counting invalid generations): per user, ``num_beams`` token lists.

    Sequences exclude the decoder start token and end with EOS unless cut at ``max_new_tokens``;
    they are sorted by summed log-probability (no length normalisation).
    """
    device = encoder_hidden.device
    b = encoder_hidden.shape[0]
    eos = eos_id(t5)
    dec = IncrementalDecoder(t5, encoder_hidden, encoder_mask, 1, max_steps=max_new_tokens)
    tokens = torch.full((b, 1), decoder_start_id(t5), dtype=torch.long, device=device)
    scores = torch.zeros(b, 1, dtype=torch.float32, device=device)
    seqs = torch.zeros(b, 1, 0, dtype=torch.long, device=device)
    pool_scores = torch.full((b, num_beams), NEG_INF, device=device)
    pool_seqs = torch.zeros(b, num_beams, max_new_tokens, dtype=torch.long, device=device)
    pool_len = torch.zeros(b, num_beams, dtype=torch.long, device=device)

    for step in range(max_new_tokens):
        logp = dec.step(tokens)  # [B, S, V]
        vocab = logp.shape[-1]
        cand = (scores.unsqueeze(-1) + logp).flatten(1)
        top_scores, top_idx = cand.topk(min(2 * num_beams, cand.shape[1]), dim=1)
        beam = torch.div(top_idx, vocab, rounding_mode="floor")
        tok = top_idx % vocab
        new_seqs = torch.cat(
            [seqs.gather(1, beam.unsqueeze(-1).expand(-1, -1, step)), tok.unsqueeze(-1)], dim=2
        )
        is_eos = tok == eos
        ranked = torch.arange(tok.shape[1], device=device) < num_beams
        finished = (is_eos | (step == max_new_tokens - 1)) & ranked
        fin_scores = top_scores.masked_fill(~finished, NEG_INF)
        padded = torch.zeros(b, tok.shape[1], max_new_tokens, dtype=torch.long, device=device)
        padded[:, :, : step + 1] = new_seqs
        pool_scores, keep = torch.cat([pool_scores, fin_scores], 1).topk(num_beams, dim=1)
        pool_seqs = torch.cat([pool_seqs, padded], 1).gather(
            1, keep.unsqueeze(-1).expand(-1, -1, max_new_tokens)
        )
        step_len = torch.full_like(tok, step + 1)
        pool_len = torch.cat([pool_len, step_len], 1).gather(1, keep)
        if step == max_new_tokens - 1:
            break
        live_scores, live_idx = top_scores.masked_fill(is_eos, NEG_INF).topk(
            min(num_beams, tok.shape[1]), dim=1
        )
        n_alive, can_improve = _alive_and_improvable(live_scores, pool_scores)
        if n_alive == 0 or not can_improve:
            break
        live_scores, live_idx = live_scores[:, :n_alive], live_idx[:, :n_alive]
        dec.reorder(beam.gather(1, live_idx))
        seqs = new_seqs.gather(1, live_idx.unsqueeze(-1).expand(-1, -1, step + 1))
        tokens = tok.gather(1, live_idx)
        scores = live_scores

    out: list[list[list[int]]] = []
    found = torch.isfinite(pool_scores).cpu()
    for user_seqs, user_len, user_found in zip(pool_seqs.cpu(), pool_len.cpu(), found):
        out.append(
            [
                seq[:length].tolist()
                for seq, length, ok in zip(user_seqs, user_len.tolist(), user_found.tolist())
                if ok
            ]
        )
    return out
