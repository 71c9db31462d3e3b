"""A prefix trie over item token sequences, stored as flat tensors for batched constrained decoding.

Generative recommenders (P5, POD) emit an item as a short token sequence ending in EOS. Constrained
beam search and exact full-catalogue scoring both walk a trie of those sequences; keeping it as CSR
arrays (per node: a slice of child tokens and child node ids) lets every beam of every user look up
its allowed continuations with a couple of gathers instead of a Python callback per beam.

Node numbering is breadth first: the root is node 0, the nodes of depth ``d`` are contiguous, and
the children of a node are contiguous and sorted by token. A node's *depth* is the number of tokens
on the path to it; a *leaf* is the node reached by EOS and maps to exactly one item.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["ItemTrie"]


class ItemTrie:
    """CSR prefix trie: ``child_ptr[n]:child_ptr[n + 1]`` indexes the edges leaving node ``n``.

    Tensors (all ``int64`` on :attr:`device`):

    * ``child_ptr [n_nodes + 1]``, ``child_token [n_edges]``, ``child_node [n_edges]``;
    * ``node_token [n_nodes]``: the token on the edge into the node (``-1`` for the root),
      ``node_depth [n_nodes]``, ``node_item [n_nodes]`` (item id at a leaf, else ``-1``) and
      ``node_col [n_nodes]`` (a leaf's column, its position in :attr:`item_ids`, else ``-1``);
    * ``item_ids [n_items]`` in the order given to :meth:`from_sequences` and ``item_leaf
      [n_items]``, the leaf of each. Scores laid out by column scatter into a per-item-id table with
      ``table[:, trie.item_ids] = scores``.
    """

    def __init__(
        self,
        child_ptr: torch.Tensor,
        child_token: torch.Tensor,
        child_node: torch.Tensor,
        node_token: torch.Tensor,
        node_depth: torch.Tensor,
        node_item: torch.Tensor,
        node_col: torch.Tensor,
        item_ids: torch.Tensor,
        item_leaf: torch.Tensor,
        eos_id: int,
        max_children_at_depth: Sequence[int],
    ) -> None:
        self.child_ptr = child_ptr
        self.child_token = child_token
        self.child_node = child_node
        self.node_token = node_token
        self.node_depth = node_depth
        self.node_item = node_item
        self.node_col = node_col
        self.item_ids = item_ids
        self.item_leaf = item_leaf
        self.eos_id = int(eos_id)
        # Host-side so that beam search can size its padded child tables without a device sync.
        self.max_children_at_depth = tuple(int(k) for k in max_children_at_depth)
        self._host: dict[str, np.ndarray] | None = None
        self._on_device: dict[torch.device, ItemTrie] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_sequences(
        cls, item_ids: Sequence[int], token_seqs: Sequence[Sequence[int]], eos_id: int
    ) -> ItemTrie:
        """Build the trie; EOS is appended to a sequence that lacks it.

        Raises ``ValueError`` for mismatched lengths, duplicate item ids, EOS before the end of a
        sequence (the leaf would hide the longer item), or two items with the same token sequence
        (constrained decoding could never tell them apart).
        """
        item_ids = [int(i) for i in item_ids]
        if len(item_ids) != len(token_seqs):
            raise ValueError(f"{len(item_ids)} item ids but {len(token_seqs)} token sequences")
        if not item_ids:
            raise ValueError("an item trie needs at least one item")
        seen_ids: set[int] = set()
        for item in item_ids:
            if item in seen_ids:
                raise ValueError(f"duplicate item id {item}")
            seen_ids.add(item)

        eos_id = int(eos_id)
        children: list[dict[int, int]] = [{}]
        leaf_owner: dict[int, int] = {}
        leaf_of_item: list[int] = []
        for item, seq in zip(item_ids, token_seqs):
            tokens = [int(t) for t in seq]
            if not tokens or tokens[-1] != eos_id:
                tokens.append(eos_id)
            if eos_id in tokens[:-1]:
                raise ValueError(f"item {item}: EOS ({eos_id}) before the end of {tokens}")
            if min(tokens) < 0:
                raise ValueError(f"item {item}: negative token id in {tokens}")
            node = 0
            for tok in tokens:
                nxt = children[node].get(tok)
                if nxt is None:
                    nxt = len(children)
                    children[node][tok] = nxt
                    children.append({})
                node = nxt
            if node in leaf_owner:
                raise ValueError(
                    f"items {leaf_owner[node]} and {item} have the same token sequence {tokens}"
                )
            leaf_owner[node] = item
            leaf_of_item.append(node)

        # Renumber breadth first, children sorted by token.
        n_nodes = len(children)
        order = [0]
        depth_of = [0]
        new_id = np.empty(n_nodes, dtype=np.int64)
        new_id[0] = 0
        head = 0
        while head < len(order):
            old = order[head]
            for tok in sorted(children[old]):
                child = children[old][tok]
                new_id[child] = len(order)
                order.append(child)
                depth_of.append(depth_of[head] + 1)
            head += 1

        child_ptr = np.zeros(n_nodes + 1, dtype=np.int64)
        child_token = np.empty(n_nodes - 1, dtype=np.int64)
        node_token = np.full(n_nodes, -1, dtype=np.int64)
        edge = 0
        for new, old in enumerate(order):
            child_ptr[new] = edge
            for tok in sorted(children[old]):
                child_token[edge] = tok
                node_token[edge + 1] = tok  # breadth-first: edge e enters node e + 1
                edge += 1
        child_ptr[n_nodes] = edge
        child_node = np.arange(1, n_nodes, dtype=np.int64)
        node_depth = np.asarray(depth_of, dtype=np.int64)

        item_leaf = new_id[np.asarray(leaf_of_item, dtype=np.int64)]
        node_item = np.full(n_nodes, -1, dtype=np.int64)
        node_item[item_leaf] = item_ids
        node_col = np.full(n_nodes, -1, dtype=np.int64)
        node_col[item_leaf] = np.arange(len(item_ids))

        degree = np.diff(child_ptr)
        max_depth = int(node_depth.max())
        max_children = np.zeros(max_depth + 1, dtype=np.int64)
        np.maximum.at(max_children, node_depth, degree)

        as_t = torch.from_numpy
        return cls(
            child_ptr=as_t(child_ptr),
            child_token=as_t(child_token),
            child_node=as_t(child_node),
            node_token=as_t(node_token),
            node_depth=as_t(node_depth),
            node_item=as_t(node_item),
            node_col=as_t(node_col),
            item_ids=torch.tensor(item_ids, dtype=torch.int64),
            item_leaf=as_t(item_leaf),
            eos_id=eos_id,
            max_children_at_depth=max_children.tolist(),
        )

    # ------------------------------------------------------------------ sizes
    @property
    def n_nodes(self) -> int:
        return int(self.child_ptr.shape[0]) - 1

    @property
    def n_items(self) -> int:
        return int(self.item_ids.shape[0])

    @property
    def depth(self) -> int:
        """Longest item sequence, EOS included: the most decoding steps any item needs."""
        return len(self.max_children_at_depth) - 1

    @property
    def device(self) -> torch.device:
        return self.child_ptr.device

    def to(self, device: torch.device | str) -> ItemTrie:
        """The same trie with its tensors on ``device`` (memoised: cheap to call per batch)."""
        device = torch.device(device)
        if device == self.device:
            return self
        if device not in self._on_device:
            names = (
                "child_ptr", "child_token", "child_node", "node_token", "node_depth", "node_item",
                "node_col", "item_ids", "item_leaf",
            )  # fmt: skip
            moved = ItemTrie(
                **{name: getattr(self, name).to(device) for name in names},
                eos_id=self.eos_id,
                max_children_at_depth=self.max_children_at_depth,
            )
            if self._host is None:
                self._host = {}
            moved._host = self._host  # shared: the same numbers wherever the tensors live
            self._on_device[device] = moved
        return self._on_device[device]

    # ------------------------------------------------------------------ lookups
    def children(
        self, nodes: torch.Tensor, max_children: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Padded children of ``nodes [...]``: ``(tokens, child_nodes, valid)``, each ``[..., K]``.

        ``K`` is ``max_children`` when given (pass ``max_children_at_depth[d]`` when all nodes are
        at depth ``d`` to avoid a device sync), else the largest degree among ``nodes``. Padding
        slots hold token 0 and node 0 and are ``False`` in ``valid``. Leaves have no children.
        """
        nodes = nodes.to(device=self.device, dtype=torch.int64)
        start = self.child_ptr[nodes]
        degree = self.child_ptr[nodes + 1] - start
        if max_children is None:
            max_children = int(degree.max()) if degree.numel() else 0
        slot = torch.arange(max(int(max_children), 1), device=self.device)
        valid = slot < degree.unsqueeze(-1)
        if max_children == 0 or self.child_token.numel() == 0:
            shape = (*nodes.shape, max(int(max_children), 1))
            zeros = torch.zeros(shape, dtype=torch.int64, device=self.device)
            return zeros, zeros.clone(), torch.zeros(shape, dtype=torch.bool, device=self.device)
        edge = torch.where(valid, start.unsqueeze(-1) + slot, 0)
        tokens = torch.where(valid, self.child_token[edge], 0)
        child_nodes = torch.where(valid, self.child_node[edge], 0)
        return tokens, child_nodes, valid

    def is_leaf(self, nodes: torch.Tensor) -> torch.Tensor:
        """Whether each node is a leaf (reached by EOS)."""
        return self.node_item[nodes] >= 0

    def item_of(self, node: int | torch.Tensor) -> int | torch.Tensor:
        """Item id at a leaf, ``-1`` elsewhere; accepts an int or a tensor of node ids."""
        if isinstance(node, torch.Tensor):
            return self.node_item[node.to(self.device)]
        return int(self.host("node_item")[int(node)])

    def host(self, name: str) -> np.ndarray:
        """A numpy copy of one of the trie tensors (cached), for host-side walks."""
        if self._host is None:
            self._host = {}
        if name not in self._host:
            self._host[name] = getattr(self, name).cpu().numpy()
        return self._host[name]

    def decode(self, tokens: Sequence[int] | torch.Tensor) -> int:
        """Item id spelt by ``tokens`` (read up to the first EOS), or ``-1`` if it spells none.

        ``tokens`` must not start with the decoder start token; anything after EOS is ignored.
        """
        ptr, tok = self.host("child_ptr"), self.host("child_token")
        child, node_item = self.host("child_node"), self.host("node_item")
        if isinstance(tokens, torch.Tensor):
            tokens = tokens.tolist()
        node = 0
        for t in tokens:
            lo, hi = int(ptr[node]), int(ptr[node + 1])
            pos = lo + int(np.searchsorted(tok[lo:hi], int(t)))
            if pos >= hi or int(tok[pos]) != int(t):
                return -1
            node = int(child[pos])
            if int(t) == self.eos_id:
                return int(node_item[node])
        return -1

    def sequence_of(self, item_col: int) -> list[int]:
        """Token sequence (EOS included) of the item in column ``item_col``."""
        node = int(self.host("item_leaf")[item_col])
        node_token, ptr = self.host("node_token"), self.host("child_ptr")
        # Walk up through the breadth-first numbering: the parent of node n is the node whose
        # edge range contains edge n - 1.
        out = []
        while node != 0:
            out.append(int(node_token[node]))
            node = int(np.searchsorted(ptr, node - 1, side="right")) - 1
        return out[::-1]

    def __repr__(self) -> str:
        return (
            f"ItemTrie(n_items={self.n_items}, n_nodes={self.n_nodes}, depth={self.depth}, "
            f"device={self.device})"
        )
