"""(Diverse) beam generation against transformers' own beam search, on a tiny random T5."""

from __future__ import annotations

import pytest
import torch
from t5_tiny import D_MODEL, encoder_inputs, tiny_t5
from transformers.modeling_outputs import BaseModelOutput

from benchmark.backends.t5.generate import beam_generate, group_hypotheses

EOS = 1



def eos_prone_t5(seed: int, vocab: int = 30, margin: float = 1.0):
    """A random T5 whose EOS is likely enough that beams finish at different lengths.

    The (untied) EOS row of ``lm_head`` is set along the mean decoder state, scaled so that its
    mean logit is ``margin`` below the mean top logit.
    """
    t5 = tiny_t5(seed, vocab=vocab, tie=False)
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(8, 6, D_MODEL, generator=gen)
    ids = torch.randint(2, vocab, (8, 10), generator=gen)
    with torch.no_grad():
        out = t5(encoder_outputs=BaseModelOutput(last_hidden_state=hidden), decoder_input_ids=ids,
                 output_hidden_states=True)  # fmt: skip
        states = out.decoder_hidden_states[-1].reshape(-1, D_MODEL)
        mean = states.mean(0)
        target = t5.lm_head(states).max(-1).values.mean() - margin
        t5.lm_head.weight[EOS] = mean * target / mean.dot(mean)
    return t5


def hf_generate(t5, hidden, mask, **kw) -> list[list[int]]:
    with torch.no_grad():
        out = t5.generate(
            encoder_outputs=BaseModelOutput(last_hidden_state=hidden), attention_mask=mask,
            do_sample=False, early_stopping=True, decoder_start_token_id=0, **kw,
        )  # fmt: skip
    seqs = []
    for seq in out.tolist():
        seq = seq[1:]
        seqs.append(seq[: seq.index(EOS)] if EOS in seq else seq)
    return seqs


SETTINGS = [  # (seed, num_beams, min_new_tokens, max_new_tokens, length_penalty)
    (0, 4, 0, 8, 1.0),
    (1, 3, 3, 8, 1.0),
    (2, 5, 0, 10, 0.0),
    (3, 4, 5, 9, 2.0),
    (4, 2, 0, 7, -0.5),
    (5, 6, 2, 12, 1.0),
    (6, 4, 0, 12, 1.0),
    (13, 8, 1, 10, 1.0),
    (14, 1, 0, 8, 1.0),  # one beam: transformers runs greedy search
]


@pytest.mark.parametrize("seed,num_beams,min_new,max_new,lp", SETTINGS)
def test_plain_beam_search_matches_transformers_generate(seed, num_beams, min_new, max_new, lp):
    t5 = eos_prone_t5(seed)
    hidden, mask = encoder_inputs(3, 6, seed=seed)
    kw = dict(num_beams=num_beams, min_new_tokens=min_new, max_new_tokens=max_new,
              length_penalty=lp)  # fmt: skip
    ours = beam_generate(t5, hidden, mask, **kw)
    assert ours == hf_generate(t5, hidden, mask, **kw)
    LENGTHS.append(sum(len(s) < max_new for s in ours))


LENGTHS: list[int] = []


def test_plain_settings_do_finish_early():
    """The comparisons above must exercise EOS and pooling, not only max-length cut-offs."""
    if len(LENGTHS) < len(SETTINGS):
        pytest.skip("needs the parametrised comparison tests in the same run")
    assert sum(LENGTHS) >= 5


def test_scores_match_transformers_sequence_scores():
    t5 = eos_prone_t5(7)
    hidden, mask = encoder_inputs(3, 6, seed=7)
    kw = dict(num_beams=4, min_new_tokens=2, max_new_tokens=9, length_penalty=1.0)
    ours = group_hypotheses(t5, hidden, mask, **kw)
    with torch.no_grad():
        out = t5.generate(
            encoder_outputs=BaseModelOutput(last_hidden_state=hidden), attention_mask=mask,
            do_sample=False, early_stopping=True, decoder_start_token_id=0,
            return_dict_in_generate=True, output_scores=True, **kw,
        )  # fmt: skip
    theirs = out.sequences_scores.tolist()
    assert [user[0][1] for user in ours] == pytest.approx(theirs, abs=1e-4)


def test_min_new_tokens_is_respected():
    t5 = eos_prone_t5(4)  # EOS wins at once for some users without the minimum
    hidden, mask = encoder_inputs(3, 6, seed=8)
    free = beam_generate(t5, hidden, mask, num_beams=4, max_new_tokens=20)
    assert min(len(s) for s in free) < 4
    for groups, penalty in ((1, 0.0), (2, 1.0)):
        out = beam_generate(
            t5, hidden, mask, num_beams=4, num_beam_groups=groups, diversity_penalty=penalty,
            min_new_tokens=6, max_new_tokens=20,
        )  # fmt: skip
        assert all(6 <= len(s) <= 20 and EOS not in s for s in out)


def test_max_new_tokens_caps_length():
    t5 = tiny_t5(9, vocab=30)
    hidden, mask = encoder_inputs(2, 6, seed=9)
    out = beam_generate(t5, hidden, mask, num_beams=3, min_new_tokens=5, max_new_tokens=5)
    assert [len(s) for s in out] == [5, 5]


def test_groups_without_penalty_are_plain_beam_search_per_group():
    """With no penalty every group runs the same k-beam search: the same hypothesis everywhere."""
    t5 = eos_prone_t5(10)
    hidden, mask = encoder_inputs(3, 6, seed=10)
    plain = beam_generate(t5, hidden, mask, num_beams=3, min_new_tokens=2, max_new_tokens=9)
    groups = group_hypotheses(t5, hidden, mask, num_beams=9, num_beam_groups=3,
                              min_new_tokens=2, max_new_tokens=9)  # fmt: skip
    for user, best in zip(groups, plain):
        assert [seq for seq, _ in user] == [best] * 3


def test_diversity_penalty_diversifies_first_tokens_across_groups():
    def distinct_first_tokens(penalty: float) -> int:
        total = 0
        for seed in range(3):
            t5 = tiny_t5(20 + seed, vocab=30)
            hidden, mask = encoder_inputs(4, 6, seed=seed)
            hyps = group_hypotheses(t5, hidden, mask, num_beams=6, num_beam_groups=3,
                                    diversity_penalty=penalty, max_new_tokens=6)  # fmt: skip
            total += sum(len({seq[0] for seq, _ in user}) for user in hyps)
        return total

    without, with_penalty = distinct_first_tokens(0.0), distinct_first_tokens(5.0)
    assert without == 12  # 12 users, every group finds the same sequence
    assert with_penalty > without
    assert with_penalty >= 30  # a large penalty separates (nearly) all 3 groups of each user


def test_pod_setting_runs_and_returns_plain_token_lists():
    t5 = tiny_t5(11, vocab=40)
    hidden, mask = encoder_inputs(2, 6, seed=11)
    out = beam_generate(t5, hidden, mask, num_beams=21, num_beam_groups=3, diversity_penalty=1.0,
                        min_new_tokens=10, max_new_tokens=14)  # fmt: skip
    assert len(out) == 2
    assert all(isinstance(t, int) and t != EOS for s in out for t in s)
    assert all(10 <= len(s) <= 14 for s in out)


@pytest.mark.parametrize("groups,penalty", [(1, 0.0), (3, 0.7)])
def test_batch_equals_per_user_runs(groups, penalty):
    t5 = eos_prone_t5(12)
    hidden, mask = encoder_inputs(4, 6, seed=12)
    kw = dict(num_beams=6, num_beam_groups=groups, diversity_penalty=penalty, min_new_tokens=2,
              max_new_tokens=10, length_penalty=1.0)  # fmt: skip
    batch = beam_generate(t5, hidden, mask, **kw)
    single = [beam_generate(t5, hidden[u : u + 1], mask[u : u + 1], **kw)[0] for u in range(4)]
    assert batch == single


@pytest.mark.parametrize(
    "kw",
    [
        dict(num_beams=4, num_beam_groups=3),
        dict(num_beams=0),
        dict(num_beams=4, num_beam_groups=0),
        dict(num_beams=4, num_beam_groups=2, diversity_penalty=-1.0),
        dict(max_new_tokens=0),
        dict(min_new_tokens=-1),
    ],
)
def test_invalid_arguments_raise(kw):
    t5 = tiny_t5(0, vocab=30)
    hidden, mask = encoder_inputs(1, 4)
    with pytest.raises(ValueError):
        beam_generate(t5, hidden, mask, **kw)
