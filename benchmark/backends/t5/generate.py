"""Text generation over a T5 decoder: beam search and diverse (group) beam search.

POD (Li et al., CIKM 2023) generates explanations with diverse beam search (21 beams in 3 groups,
at least 10 new tokens). transformers 5 moved group beam search to a Hub repository (remote code
and a download), so it is re-implemented here on :class:`~.decoder.IncrementalDecoder`.

Diverse beam search (Vijayakumar et al., AAAI 2018): the ``num_beams`` beams form ``G`` groups of
``k = num_beams / G``. At each step the groups are expanded one after another; group ``g``'s token
log-probabilities are lowered by ``diversity_penalty * n(token)``, ``n`` counting how many live
beams of groups ``0..g-1`` chose that token at this step for the same user (Hamming diversity),
then the group takes an ordinary beam step among its own beams. As in transformers' (v4) group
beam search, a beam's running score is the sum of these *penalised* log-probabilities, so the
penalty also enters the final ranking. With ``G = 1`` and no penalty this is transformers' beam
search with ``early_stopping=True``.

Per step and group (transformers' rules): the ``2k`` best continuations are ranked; an EOS
continuation among the first ``k`` is finished and enters the group's pool with score
``sum logprob / length ** length_penalty`` (``length`` counts generated tokens, EOS included);
the ``k`` best non-EOS continuations stay live. At ``max_new_tokens`` the first ``k``
continuations are pooled whatever their last token. A group whose pool holds ``k`` hypotheses is
done and takes no more (``early_stopping=True``); search stops when every group of every user is
done or at ``max_new_tokens``. The answer is the best-scoring hypothesis of all groups' pools.
"""

from __future__ import annotations

import torch
from torch import nn

from .decoder import IncrementalDecoder, decoder_start_id, eos_id

__all__ = ["beam_generate", "group_hypotheses"]

NEG_INF = float("-inf")


@torch.inference_mode()
def group_hypotheses(
    t5: nn.Module,
    encoder_hidden: torch.Tensor,
    encoder_mask: torch.Tensor | None,
    *,
    num_beams: int = 4,
    num_beam_groups: int = 1,
    diversity_penalty: float = 0.0,
    min_new_tokens: int = 0,
    max_new_tokens: int = 40,
    length_penalty: float = 1.0,
) -> list[list[tuple[list[int], float]]]:
    """Per user and group, the group's best ``(tokens, score)``; see the module docstring.

    Exposed so diversity across groups can be inspected; tokens exclude the start token and EOS.
    """
    _check_args(num_beams, num_beam_groups, diversity_penalty, min_new_tokens, max_new_tokens)
    device = encoder_hidden.device
    b = int(encoder_hidden.shape[0])
    n_groups, k = num_beam_groups, num_beams // num_beam_groups
    eos, t_max = eos_id(t5), max_new_tokens
    dec = IncrementalDecoder(t5, encoder_hidden, encoder_mask, 1, max_steps=t_max)

    tokens = torch.full((b, 1), decoder_start_id(t5), dtype=torch.long, device=device)
    scores = torch.zeros(b, n_groups, 1, device=device)  # one start beam per group
    seqs = torch.zeros(b, n_groups, 1, 0, dtype=torch.long, device=device)
    pool_scores = torch.full((b, n_groups, k), NEG_INF, device=device)
    pool_seqs = torch.zeros(b, n_groups, k, t_max, dtype=torch.long, device=device)
    pool_len = torch.zeros(b, n_groups, k, dtype=torch.long, device=device)
    done = torch.zeros(b, n_groups, dtype=torch.bool, device=device)
    users = torch.arange(b, device=device)

    for step in range(t_max):
        logp = dec.step(tokens)  # [B, S, V]; S = 1 at step 0, else n_groups * k
        vocab = logp.shape[-1]
        if step < min_new_tokens:
            logp[..., eos] = NEG_INF
        shared = step == 0  # every group expands the single start stream
        last = step == t_max - 1
        chosen = torch.zeros(b, vocab, device=device)  # Hamming counts of earlier groups
        live_s, live_tok, live_src, live_seq = [], [], [], []
        norm = float(step + 1) ** length_penalty

        for g in range(n_groups):
            lp = logp[:, 0:1] if shared else logp[:, g * k : (g + 1) * k]  # [B, n_par, V]
            if g > 0 and diversity_penalty != 0.0:
                lp = lp - diversity_penalty * chosen.unsqueeze(1)
            cand = (scores[:, g].unsqueeze(-1) + lp).flatten(1)
            top_s, top_i = cand.topk(min(2 * k, cand.shape[1]), dim=1)
            parent = torch.div(top_i, vocab, rounding_mode="floor")
            tok = top_i % vocab
            is_eos = tok == eos
            cand_seqs = torch.cat(
                [seqs[:, g].gather(1, parent[..., None].expand(-1, -1, step)), tok[..., None]], 2
            )  # [B, 2k, step+1]

            # Finished: EOS (or any token at the last step) among the k best, unless pool is full.
            ranked = torch.arange(tok.shape[1], device=device) < k
            fin = ranked & torch.isfinite(top_s) & ~done[:, g : g + 1]
            fin &= is_eos | last
            fin_s = (top_s / norm).masked_fill(~fin, NEG_INF)
            fin_len = torch.where(is_eos, step, step + 1)
            padded = torch.zeros(b, tok.shape[1], t_max, dtype=torch.long, device=device)
            padded[..., : step + 1] = cand_seqs
            pool_scores[:, g], keep = torch.cat([pool_scores[:, g], fin_s], 1).topk(k, dim=1)
            pool_seqs[:, g] = torch.cat([pool_seqs[:, g], padded], 1).gather(
                1, keep[..., None].expand(-1, -1, t_max)
            )
            pool_len[:, g] = torch.cat([pool_len[:, g], fin_len], 1).gather(1, keep)
            if last:
                continue

            # Live: the k best non-EOS continuations; their tokens penalise later groups.
            s, idx = top_s.masked_fill(is_eos, NEG_INF).topk(k, dim=1)
            t = tok.gather(1, idx)
            live_s.append(s)
            live_tok.append(t)
            live_src.append(parent.gather(1, idx) + (0 if shared else g * k))
            live_seq.append(cand_seqs.gather(1, idx[..., None].expand(-1, -1, step + 1)))
            if diversity_penalty != 0.0 and g < n_groups - 1:
                counts = (~done[:, g : g + 1]).float().expand(-1, k)
                chosen.index_put_((users[:, None].expand(-1, k), t), counts, accumulate=True)

        done = torch.isfinite(pool_scores).all(-1)
        if last or bool(done.all()):
            break
        scores = torch.stack(live_s, 1)  # [B, G, k]
        seqs = torch.stack(live_seq, 1)  # [B, G, k, step+1]
        tokens = torch.cat(live_tok, 1)  # [B, G*k]
        dec.reorder(torch.cat(live_src, 1))

    out: list[list[tuple[list[int], float]]] = []
    best_s, best_i = pool_scores.max(-1)  # [B, G]
    best_seq = pool_seqs.gather(2, best_i[..., None, None].expand(-1, -1, 1, t_max)).squeeze(2)
    best_len = pool_len.gather(2, best_i[..., None]).squeeze(2)
    for user_seq, user_len, user_s in zip(best_seq.tolist(), best_len.tolist(), best_s.tolist()):
        out.append([(s[:n], sc) for s, n, sc in zip(user_seq, user_len, user_s)])
    return out


def beam_generate(
    t5: nn.Module,
    encoder_hidden: torch.Tensor,
    encoder_mask: torch.Tensor | None,
    *,
    num_beams: int = 4,
    num_beam_groups: int = 1,
    diversity_penalty: float = 0.0,
    min_new_tokens: int = 0,
    max_new_tokens: int = 40,
    length_penalty: float = 1.0,
) -> list[list[int]]:
    """Best hypothesis per user (no start token, EOS or padding) by (diverse) beam search.

    ``encoder_hidden [B, L, d]`` / ``encoder_mask [B, L]`` are the encoder outputs, so soft
    prompts need no input ids. POD's explanation setting is ``num_beams=21, num_beam_groups=3,
    min_new_tokens=10`` with a positive ``diversity_penalty``.
    """
    groups = group_hypotheses(
        t5, encoder_hidden, encoder_mask, num_beams=num_beams, num_beam_groups=num_beam_groups,
        diversity_penalty=diversity_penalty, min_new_tokens=min_new_tokens,
        max_new_tokens=max_new_tokens, length_penalty=length_penalty,
    )  # fmt: skip
    # max() keeps the first of equal scores, i.e. the lowest group, like a stable sort would
    return [max(user, key=lambda hyp: hyp[1])[0] for user in groups]


def _check_args(
    num_beams: int,
    num_beam_groups: int,
    diversity_penalty: float,
    min_new_tokens: int,
    max_new_tokens: int,
) -> None:
    """Reject settings that would silently search something other than what was asked."""
    if num_beams < 1 or num_beam_groups < 1:
        raise ValueError(f"need num_beams >= 1 and num_beam_groups >= 1, got {num_beams}, "
                         f"{num_beam_groups}")  # fmt: skip
    if num_beams % num_beam_groups:
        raise ValueError(
            f"num_beams ({num_beams}) must be divisible by num_beam_groups ({num_beam_groups})"
        )
    if diversity_penalty < 0:
        raise ValueError(f"diversity_penalty must be >= 0, got {diversity_penalty}")
    if max_new_tokens < 1 or min_new_tokens < 0:
        raise ValueError(
            f"need max_new_tokens >= 1 and min_new_tokens >= 0, got {max_new_tokens}, "
            f"{min_new_tokens}"
        )
