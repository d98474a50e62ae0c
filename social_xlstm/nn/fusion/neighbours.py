"""The padded in-neighbour table that the neighbour-reading fusions (pooling, social mLSTM) share.

A road graph's in-degrees are small and even, so a dense (N, K) table of each VD's sources turns the
neighbour sums into batched matmuls and weighted sums over a fixed axis; padded slots point at the VD
itself and are masked out.
"""

from __future__ import annotations

import torch
from torch import Tensor


def neighbour_table(edge_index: Tensor, edge_attr: Tensor, num_nodes: int) -> tuple[Tensor, Tensor, Tensor]:
    """Turn a (src -> dst) edge list into a padded in-neighbour table.

    Args:
        edge_index: edges ``[src, dst]``; messages flow src -> dst, so row i lists the sources of i.
        edge_attr: edge features.
        num_nodes: N.

    Returns:
        index (N, K) int64 (padding points at the node itself), mask (N, K) bool (True = real edge),
        attr (N, K, Fe) (0 on padding); K is the largest in-degree.

    Raises:
        ValueError: an index outside [0, N) or a node with no incoming edge (self loops must be included).
    """
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must be (2, E), got {tuple(edge_index.shape)}")
    if edge_attr.dim() != 2 or edge_attr.shape[0] != edge_index.shape[1]:
        raise ValueError(
            f"edge_attr must be (E, Fe) with E={edge_index.shape[1]}, got {tuple(edge_attr.shape)}"
        )
    src, dst = edge_index.long()
    if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
        raise ValueError(f"edge_index holds node ids outside [0, {num_nodes})")
    degree = torch.bincount(dst, minlength=num_nodes)  # (N,)
    lonely = (degree == 0).nonzero().flatten()
    if lonely.numel():
        raise ValueError(
            f"nodes {lonely[:5].tolist()} have no incoming edge; the graph must include self loops"
        )
    order = torch.sort(dst, stable=True).indices  # (E,)
    src, dst, attr = src[order], dst[order], edge_attr[order]
    start = torch.cumsum(degree, 0) - degree  # (N,) first sorted edge of each node
    slot = torch.arange(dst.numel()) - start[dst]  # (E,) position among the node's in-edges
    width = int(degree.max())
    index = torch.arange(num_nodes)[:, None].repeat(1, width)  # (N, K)
    mask = torch.zeros(num_nodes, width, dtype=torch.bool)  # (N, K)
    table = torch.zeros(num_nodes, width, edge_attr.shape[1], dtype=edge_attr.dtype)  # (N, K, Fe)
    index[dst, slot] = src
    mask[dst, slot] = True
    table[dst, slot] = attr
    return index, mask, table


def induced_subgraph(edge_index: Tensor, edge_attr: Tensor, nodes: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    """The edges among a subset of nodes, renumbered to the subset's positions.

    Training on a sample of VDs (the datamodule's ``node_sample``) runs a fusion on those VDs only; each
    keeps the in-edges whose source is in the sample (the sampler includes every target's neighbours).

    Args:
        edge_index: (2, E) graph over ``num_nodes`` nodes.
        edge_attr: (E, Fe) edge features.
        nodes: (n,) int64 global ids of the subset, sorted ascending (so edge order is kept).

    Returns:
        edge_index (2, E') with ids in [0, n), edge_attr (E', Fe).
    """
    local = torch.full((num_nodes,), -1, dtype=torch.long, device=edge_index.device)
    local[nodes] = torch.arange(nodes.numel(), device=edge_index.device)
    src, dst = local[edge_index[0]], local[edge_index[1]]
    keep = (src >= 0) & (dst >= 0)
    return torch.stack([src[keep], dst[keep]]), edge_attr[keep]


def subgraph_table(
    edge_index: Tensor, edge_attr: Tensor, nodes: Tensor, num_nodes: int
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`neighbour_table` of the subgraph among the sorted global ids ``nodes``, renumbered."""
    return neighbour_table(*induced_subgraph(edge_index, edge_attr, nodes, num_nodes), len(nodes))


class NeighbourTableMixin:
    """For fusion modules: the graph's padded in-neighbour table as buffers, and any subgraph's on demand.

    Buffers (names fixed: checkpoints carry them): ``nbr_index``, ``nbr_mask``, ``nbr_attr`` (the table)
    and, not persistent, ``edge_index``, ``edge_attr`` (the edge list, for subgraphs of sampled VDs).
    """

    def register_graph(self, edge_index: Tensor, edge_attr: Tensor, num_nodes: int) -> None:
        index, mask, attr = neighbour_table(edge_index, edge_attr.float(), num_nodes)
        self.num_nodes = num_nodes
        self.register_buffer("edge_index", edge_index, persistent=False)
        self.register_buffer("edge_attr", edge_attr.float(), persistent=False)
        self.register_buffer("nbr_index", index)
        self.register_buffer("nbr_mask", mask)
        self.register_buffer("nbr_attr", attr)

    def table(self, nodes: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """The neighbour table (index, mask, attr) of the whole graph, or of the subgraph of ``nodes``."""
        if nodes is None:
            return self.nbr_index, self.nbr_mask, self.nbr_attr
        return subgraph_table(self.edge_index, self.edge_attr, nodes, self.num_nodes)
