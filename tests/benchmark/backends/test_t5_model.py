"""P5 backbone: whole-word embedding, POD prefix, training, save/load and profiles (offline)."""

import pytest
import torch
from transformers import T5ForConditionalGeneration
from transformers.modeling_outputs import BaseModelOutput

from benchmark.backends.t5.model import (
    CPU_CONFIG,
    P5Backbone,
    build_backbone,
    cpu_t5_config,
    find_t5_small,
)
from benchmark.backends.t5.tokenizer import encode_batch, encode_targets, train_tokenizer
from benchmark.errors import ConfigError

TINY = {"d_model": 32, "d_ff": 64, "num_layers": 1, "num_heads": 2, "d_kv": 16}


@pytest.fixture
def one_thread():
    """Tiny models run faster on one thread, and steadily when the CPU is shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_backbone(vocab_size=50, seed=0, **overrides):
    torch.manual_seed(seed)
    kwargs = {**TINY, "dropout_rate": 0.0, **overrides}
    return build_backbone("cpu", vocab_size=vocab_size, **kwargs)


def random_batch(vocab_size=50, seed=1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab_size, (3, 7), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    ids[1, 5:] = 0
    ids[:, -1] = 1
    ids[1, 4] = 1
    wwids = torch.tensor([[1, 1, 2, 2, 3, 3, 0], [1, 2, 3, 4, 0, 0, 0], [1, 1, 1, 1, 1, 1, 0]])
    labels = torch.randint(3, vocab_size, (3, 4), generator=g)
    labels[0, 3] = -100
    return ids, mask, wwids, labels


def test_cpu_config_is_a_small_t5_v1_0():
    cfg = cpu_t5_config(1234)
    assert cfg.vocab_size == 1234
    assert (cfg.d_model, cfg.d_ff, cfg.num_layers, cfg.num_decoder_layers) == (256, 1024, 4, 4)
    assert (cfg.num_heads, cfg.d_kv, cfg.dropout_rate) == (4, 64, 0.1)
    assert cfg.feed_forward_proj == "relu" and not cfg.is_gated_act
    assert cfg.tie_word_embeddings and cfg.scale_decoder_outputs
    assert (cfg.pad_token_id, cfg.eos_token_id, cfg.decoder_start_token_id) == (0, 1, 0)
    assert CPU_CONFIG["d_model"] == 256
    assert cpu_t5_config(10, num_layers=2).num_decoder_layers == 2
    assert cpu_t5_config(10, num_layers=2, num_decoder_layers=3).num_decoder_layers == 3
    t5 = build_backbone("cpu", vocab_size=10, **TINY).t5
    assert t5.lm_head.weight is t5.shared.weight  # tied


def test_build_backbone_rejects_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match="vocab_size"):
        build_backbone("cpu")
    with pytest.raises(ConfigError, match="unknown backbone profile"):
        build_backbone("gpu", vocab_size=10)
    with pytest.raises(ConfigError, match="paper"):
        build_backbone("cpu", vocab_size=10, backbone_path=tmp_path)


def test_whole_word_table_starts_small_with_a_fixed_zero_row():
    model = tiny_backbone()
    table = model.whole_word_embeddings.weight
    assert table.shape == (512, 32)
    assert table[0].abs().sum() == 0
    assert 0 < table[1:].std() < 0.05
    row1 = table[1].detach().clone()
    ids, mask, wwids, labels = random_batch()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model(ids, mask, wwids, labels).backward()
    opt.step()
    assert table[0].abs().sum() == 0  # "no word" stays a zero vector
    assert not torch.equal(table[1], row1)  # the others learn


def test_encode_without_word_ids_equals_plain_t5_encoder():
    model = tiny_backbone().eval()
    ids, mask, wwids, _ = random_batch()
    plain = model.t5.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    hidden, enc_mask = model.encode(ids, mask, torch.zeros_like(ids))
    torch.testing.assert_close(hidden, plain, rtol=0, atol=0)
    assert torch.equal(enc_mask, mask)
    with_words, _ = model.encode(ids, mask, wwids)
    assert not torch.allclose(with_words[0], plain[0])


def test_embed_adds_word_embedding_and_clamps_large_ids():
    model = tiny_backbone(max_whole_words=8)
    ids, _, _, _ = random_batch()
    wwids = torch.full_like(ids, 3)
    expected = model.t5.shared(ids) + model.whole_word_embeddings.weight[3]
    torch.testing.assert_close(model.embed(ids, wwids), expected)
    torch.testing.assert_close(model.embed(ids, wwids * 1000), model.embed(ids, wwids * 0 + 7))


def test_forward_equals_t5_loss_without_word_ids():
    model = tiny_backbone().eval()
    ids, mask, _, labels = random_batch()
    ours = model(ids, mask, torch.zeros_like(ids), labels)
    theirs = model.t5(input_ids=ids, attention_mask=mask, labels=labels).loss
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    # Hand-rolled check of what "mean over non -100 labels" means.
    decoder_in = torch.cat([torch.zeros(3, 1, dtype=torch.long), labels[:, :-1]], 1).clamp(min=0)
    logits = model.t5(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_in).logits
    keep = labels != -100
    manual = torch.nn.functional.cross_entropy(logits[keep], labels[keep])
    torch.testing.assert_close(ours, manual)


def test_prefix_goes_first_changes_output_and_gets_gradients():
    model = tiny_backbone().eval()
    ids, mask, wwids, labels = random_batch()
    plain, _ = model.encode(ids, mask, wwids)
    prefix = torch.nn.Parameter(torch.randn(2, 32))
    hidden, enc_mask = model.encode(ids, mask, wwids, prefix=prefix)
    assert hidden.shape == (3, 9, 32)
    assert enc_mask[:, :2].eq(1).all() and torch.equal(enc_mask[:, 2:], mask)
    assert not torch.allclose(hidden[:, 2:], plain, atol=1e-4)
    expected_in = torch.cat([prefix.expand(3, -1, -1), model.embed(ids, wwids)], dim=1)
    expected_mask = torch.cat([torch.ones(3, 2, dtype=torch.long), mask], dim=1)
    expected = model.t5.encoder(inputs_embeds=expected_in, attention_mask=expected_mask)
    torch.testing.assert_close(hidden, expected.last_hidden_state)
    batched, _ = model.encode(ids, mask, wwids, prefix=prefix.unsqueeze(0).expand(3, -1, -1))
    torch.testing.assert_close(batched, hidden)
    model(ids, mask, wwids, labels, prefix=prefix).backward()
    assert prefix.grad is not None and prefix.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="prefix"):
        model.encode(ids, mask, wwids, prefix=torch.zeros(2, 2, 32))


def test_save_load_round_trip(tmp_path):
    model = tiny_backbone().eval()
    with torch.no_grad():
        model.whole_word_embeddings.weight[1:].normal_()  # make the table matter
    model.save(tmp_path / "bb")
    loaded = P5Backbone.load(tmp_path / "bb").eval()
    assert loaded.t5.lm_head.weight is loaded.t5.shared.weight
    assert loaded.max_whole_words == model.max_whole_words
    ids, mask, wwids, labels = random_batch()
    prefix = torch.randn(2, 32)
    with torch.no_grad():
        a, _ = model.encode(ids, mask, wwids, prefix)
        b, _ = loaded.encode(ids, mask, wwids, prefix)
        assert torch.equal(a, b)
        assert torch.equal(model(ids, mask, wwids, labels), loaded(ids, mask, wwids, labels))
    for (name, p), (_, q) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(p, q), name
    with pytest.raises(ConfigError, match="not a saved P5 backbone"):
        P5Backbone.load(tmp_path / "missing")


def test_tiny_backbone_overfits_and_greedy_decodes_targets(one_thread):
    prompts = [
        "What will user_12 buy next ?",
        "What will user_34 buy next ?",
        "What will user_56 buy next ?",
        "Which item does user_78 want ?",
    ]
    targets = ["1024", "1042", "77", "305"]  # shared prefixes: the decoder must read the user
    tok = train_tokenizer(prompts + targets, vocab_size=100, min_frequency=1)
    model = tiny_backbone(vocab_size=len(tok))
    enc = encode_batch(tok, prompts, 32)
    labels = encode_targets(tok, targets, 8)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first_below = None
    for step in range(1, 151):
        loss = model(enc["input_ids"], enc["attention_mask"], enc["whole_word_ids"], labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if first_below is None and loss.item() < 0.1:
            first_below = step
        if loss.item() < 0.02:
            break
    assert first_below is not None, f"loss {loss.item():.3f} after 150 steps"
    model.eval()
    with torch.no_grad():
        hidden, mask = model.encode(enc["input_ids"], enc["attention_mask"], enc["whole_word_ids"])
        out = model.t5.generate(
            encoder_outputs=BaseModelOutput(last_hidden_state=hidden),
            attention_mask=mask,
            max_new_tokens=8,
            do_sample=False,
            num_beams=1,
        )
    assert tok.batch_decode(out, skip_special_tokens=True) == targets


def _isolate_hf_cache(monkeypatch, tmp_path):
    for var in ("HF_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_paper_profile_without_t5_small_explains_how_to_get_it(monkeypatch, tmp_path):
    _isolate_hf_cache(monkeypatch, tmp_path)
    (tmp_path / "hf_home").mkdir()
    with pytest.raises(ConfigError) as err:
        build_backbone("paper")
    msg = str(err.value)
    assert "t5-small" in msg
    assert str(tmp_path / "hf_home" / "hub" / "models--google-t5--t5-small") in msg
    assert str(tmp_path / "home" / ".cache" / "huggingface" / "hub") in msg
    assert "huggingface-cli download google-t5/t5-small --local-dir DIR" in msg
    assert "--backbone DIR" in msg
    assert not (tmp_path / "hf_home" / "hub").exists()  # nothing was downloaded
    with pytest.raises(ConfigError, match="not a local T5 checkpoint"):
        build_backbone("paper", backbone_path=tmp_path / "empty")


def test_paper_profile_loads_a_local_checkpoint(monkeypatch, tmp_path):
    _isolate_hf_cache(monkeypatch, tmp_path)
    torch.manual_seed(0)
    fake = T5ForConditionalGeneration(cpu_t5_config(40, **TINY))  # stands in for t5-small
    snap = tmp_path / "hf_home" / "hub" / "models--google-t5--t5-small" / "snapshots" / "abc123"
    fake.save_pretrained(str(snap))
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text("abc123")
    assert find_t5_small() == snap
    from_cache = build_backbone("paper", dropout_rate=0.0)
    from_path = build_backbone("paper", backbone_path=snap, max_whole_words=64)
    assert from_cache.training and from_cache.t5.config.dropout_rate == 0.0
    assert from_path.whole_word_embeddings.num_embeddings == 64
    for model in (from_cache, from_path):
        torch.testing.assert_close(model.t5.shared.weight, fake.shared.weight, rtol=0, atol=0)
    grown = build_backbone("paper", vocab_size=48, backbone_path=snap)
    assert grown.t5.get_input_embeddings().num_embeddings == 48
