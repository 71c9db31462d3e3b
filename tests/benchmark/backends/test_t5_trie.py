"""ItemTrie: CSR layout, lookups and the errors that protect constrained decoding."""

from __future__ import annotations

import pytest
import torch

from benchmark.backends.t5.trie import ItemTrie

EOS = 1


def digit_trie(items):
    return ItemTrie.from_sequences(items, [[10 + int(c) for c in str(i)] for i in items], EOS)


def test_sizes_and_eos_appended():
    trie = digit_trie([1, 2, 12, 13, 130])
    # root; 1, 2; 1E 2E 12 13; 12E 13E 130; 130E
    assert trie.n_items == 5
    assert trie.n_nodes == 1 + 2 + 4 + 3 + 1
    assert trie.depth == 4
    assert trie.max_children_at_depth == (2, 3, 2, 1, 0)
    assert trie.sequence_of(4) == [11, 13, 10, EOS]
    assert trie.sequence_of(0) == [11, EOS]


def test_explicit_eos_is_not_doubled():
    trie = ItemTrie.from_sequences([7, 8], [[5, EOS], [5, 6]], EOS)
    assert trie.depth == 3
    assert trie.decode([5, EOS]) == 7
    assert trie.decode([5, 6, EOS]) == 8


def test_decode_roundtrip_and_invalid():
    items = list(range(1, 60))
    trie = digit_trie(items)
    for col, item in enumerate(items):
        assert trie.decode(trie.sequence_of(col)) == item
        assert trie.decode(torch.tensor(trie.sequence_of(col) + [0, 0])) == item
    assert trie.decode([11]) == -1  # prefix only, no EOS
    assert trie.decode([19, 19, EOS]) == -1  # 99 is not an item
    assert trie.decode([EOS]) == -1
    assert trie.decode([]) == -1


def test_children_padded_and_consistent():
    trie = digit_trie([1, 2, 12, 13, 130])
    tokens, nodes, valid = trie.children(torch.tensor([[0, 1], [2, 0]]))
    assert tokens.shape == nodes.shape == valid.shape == (2, 2, 3)
    root_tokens = tokens[0, 0][valid[0, 0]].tolist()
    assert root_tokens == [11, 12]
    # node 1 is "1": children EOS and "12"/"13"
    t1, n1, v1 = trie.children(torch.tensor([1]))
    assert t1[0][v1[0]].tolist() == [EOS, 12, 13]
    leaf = n1[0, 0]
    assert bool(trie.is_leaf(leaf)) and trie.item_of(int(leaf)) == 1
    assert int(trie.item_of(leaf.unsqueeze(0))[0]) == 1
    assert trie.item_of(0) == -1
    # padding slots are token 0 / node 0 and invalid
    t, n, v = trie.children(torch.tensor([2]), max_children=5)
    assert v[0].tolist() == [True, False, False, False, False]
    assert t[0, 1:].tolist() == [0] * 4 and n[0, 1:].tolist() == [0] * 4
    # leaves have no children
    t, n, v = trie.children(leaf.view(1))
    assert not v.any()


def test_breadth_first_numbering():
    trie = digit_trie(list(range(1, 120)))
    depth = trie.node_depth
    assert torch.all(depth[1:] >= depth[:-1])
    assert torch.equal(trie.child_node, torch.arange(1, trie.n_nodes))
    assert torch.equal(trie.node_token[1:], trie.child_token)
    assert torch.equal(trie.node_col[trie.item_leaf], torch.arange(trie.n_items))
    assert torch.equal(trie.node_item[trie.item_leaf], trie.item_ids)


def test_item_order_is_kept():
    trie = digit_trie([30, 4, 17])
    assert trie.item_ids.tolist() == [30, 4, 17]
    assert [trie.decode(trie.sequence_of(c)) for c in range(3)] == [30, 4, 17]


def test_duplicate_sequences_name_both_items():
    with pytest.raises(ValueError, match=r"items 5 and 9"):
        ItemTrie.from_sequences([5, 6, 9], [[3, 4], [3], [3, 4, EOS]], EOS)


def test_other_errors():
    with pytest.raises(ValueError, match="duplicate item id"):
        ItemTrie.from_sequences([1, 1], [[3], [4]], EOS)
    with pytest.raises(ValueError, match="EOS"):
        ItemTrie.from_sequences([1], [[3, EOS, 4]], EOS)
    with pytest.raises(ValueError, match="token sequences"):
        ItemTrie.from_sequences([1, 2], [[3]], EOS)
    with pytest.raises(ValueError):
        ItemTrie.from_sequences([], [], EOS)


def test_to_device_is_memoised():
    trie = digit_trie([1, 2, 3])
    assert trie.to("cpu") is trie
    if torch.cuda.is_available():
        moved = trie.to("cuda")
        assert moved is trie.to("cuda")
        assert moved.child_token.is_cuda and moved.decode([11, EOS]) == 1
