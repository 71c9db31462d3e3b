"""Exact scoring: teacher-forced candidate scores and the full-catalogue trie walk."""

from __future__ import annotations

import random

import pytest
import torch
from t5_tiny import encoder_inputs, tiny_t5
from transformers.modeling_outputs import BaseModelOutput

from benchmark.backends.t5.decoder import IncrementalDecoder
from benchmark.backends.t5.scoring import score_all_items, score_candidates
from benchmark.backends.t5.trie import ItemTrie

EOS = 1



def reference_scores(t5, hidden, mask, cand):
    """Sum of transformers' log-softmax over each candidate's tokens up to and including EOS."""
    b, c, t = cand.shape
    inputs = torch.cat([torch.zeros(b, c, 1, dtype=torch.long), cand[:, :, :-1]], dim=2)
    with torch.no_grad():
        logits = t5(
            encoder_outputs=BaseModelOutput(last_hidden_state=hidden.repeat_interleave(c, 0)),
            attention_mask=mask.repeat_interleave(c, 0),
            decoder_input_ids=inputs.view(b * c, t),
        ).logits
    logp = logits.log_softmax(-1).gather(-1, cand.view(b * c, t, 1)).view(b, c, t)
    out = torch.zeros(b, c)
    n_tok = torch.zeros(b, c)
    for i in range(b):
        for j in range(c):
            for k in range(t):
                tok = int(cand[i, j, k])
                if tok == 0:
                    break
                out[i, j] += logp[i, j, k]
                n_tok[i, j] += 1
                if tok == EOS:
                    break
    return out, n_tok


def random_candidates(b, c, t, vocab, seed):
    rng = random.Random(seed)
    cand = torch.zeros(b, c, t, dtype=torch.long)
    for i in range(b):
        for j in range(c):
            n = rng.randint(1, t)
            toks = [rng.randrange(2, vocab) for _ in range(n - 1)] + [EOS]
            cand[i, j, :n] = torch.tensor(toks)
    return cand


@pytest.mark.parametrize("ff,tie", [("relu", True), ("gated-gelu", False)])
def test_score_candidates_matches_teacher_forcing(ff, tie):
    t5 = tiny_t5(1, ff=ff, tie=tie)
    hidden, mask = encoder_inputs(3, 7, seed=1)
    cand = random_candidates(3, 11, 5, 40, seed=2)
    want, n_tok = reference_scores(t5, hidden, mask, cand)
    for chunk in (1, 4, 11, 64):  # chunks that do and do not divide C
        got = score_candidates(t5, hidden, mask, cand, chunk=chunk)
        torch.testing.assert_close(got, want, atol=1e-4, rtol=0)
    mean = score_candidates(t5, hidden, mask, cand, chunk=4, length_normalise=True)
    torch.testing.assert_close(mean, want / n_tok, atol=1e-4, rtol=0)


def test_padding_and_tokens_after_eos_are_ignored():
    t5 = tiny_t5(2)
    hidden, mask = encoder_inputs(2, 5)
    cand = torch.tensor([[[5, 6, EOS, 0, 0], [5, 6, EOS, 9, 9], [0, 0, 0, 0, 0]]] * 2)
    got = score_candidates(t5, hidden, mask, cand)
    assert torch.equal(got[:, 0], got[:, 1])
    assert torch.isneginf(got[:, 2]).all()
    short = score_candidates(t5, hidden, mask, cand[:, :1, :3])
    torch.testing.assert_close(short[:, 0], got[:, 0], atol=1e-5, rtol=0)


def digit_trie(items):
    return ItemTrie.from_sequences(items, [[10 + int(c) for c in str(i)] for i in items], EOS)


def all_item_candidates(trie, batch):
    cand = torch.zeros(batch, trie.n_items, trie.depth, dtype=torch.long)
    for col in range(trie.n_items):
        seq = trie.sequence_of(col)
        cand[:, col, : len(seq)] = torch.tensor(seq)
    return cand


@pytest.mark.parametrize("max_rows", [1024, 7])
def test_score_all_items_matches_candidate_scoring(max_rows):
    t5 = tiny_t5(3, ff="gated-gelu")
    items = random.Random(0).sample(range(1, 2000), 180)  # shuffled ids, mixed lengths
    trie = digit_trie(items)
    hidden, mask = encoder_inputs(3, 6, seed=3)
    got = score_all_items(t5, hidden, mask, trie, max_rows=max_rows)
    assert got.shape == (3, 180)
    want = score_candidates(t5, hidden, mask, all_item_candidates(trie, 3), chunk=50)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)
    # columns follow the item ids as given; scattering by id is the documented one-liner
    table = torch.full((3, 2000), float("-inf"))
    table[:, trie.item_ids] = got
    assert torch.equal(table[:, items[5]], got[:, 5])


def test_score_all_items_decodes_each_internal_node_once(monkeypatch):
    t5 = tiny_t5(4)
    trie = digit_trie(list(range(1, 250)))
    hidden, mask = encoder_inputs(2, 4)
    rows = []
    original = IncrementalDecoder.step_gather

    def counting(self, tokens, next_tokens):
        rows.append(tokens.shape[1])
        return original(self, tokens, next_tokens)

    monkeypatch.setattr(IncrementalDecoder, "step_gather", counting)
    score_all_items(t5, hidden, mask, trie, max_rows=16)
    internal = trie.n_nodes - trie.n_items  # every non-leaf node, root included
    assert sum(rows) == internal
    assert max(rows) <= 8  # max_rows // batch streams per pass
