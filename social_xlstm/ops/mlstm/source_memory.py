"""Source-memory social mLSTM: each VD keeps ONE temporal matrix memory, its neighbours read it.

The target-memory form (``reference.py``) gives every VD a memory filled with its K neighbours' key/value
pairs, so training holds O(E * T * DH) keys per head. Here every source VD j writes its own history into
its own memory (its own forget gate), and a target i reads the memories of its in-neighbours with its own
query, weighted by a static per-edge gate (per head, dropping the batch and head indices)::

    C_jt = f_jt C_j,t-1 + exp(a_jt) v_jt k_jt^T     n_jt = f_jt n_j,t-1 + exp(a_jt) k_jt
    V_jt = f_jt V_j,t-1 + exp(a_jt) v_jt            W_jt = f_jt W_j,t-1 + exp(a_jt)
    key of source j as seen from i: k_jt + ke_ij  (the edge part, the same at every step)
    num_it = sum_j exp(b_ij) (C_jt q_it + (ke_ij . q_it) V_jt)
    den_it = sum_j exp(b_ij) (n_jt . q_it + (ke_ij . q_it) W_jt)
    out_it = num_it / max(|den_it|, 1)

so the state is O(N * DH^2) and a read costs O(E * DH^2), done as one sparse (CSR) times dense matmul
per head.
Unrolled, ``exp(b_ij) C_jt = sum_s exp(b_ij + a_js + sum_{u=s+1..t} logf_ju) v_js k_js^T``: the target
memory form with the input gate split into a source part ``a`` and an edge part ``b``, and the forget gate
of the source instead of the target.

Stabilisation: each memory is stored divided by ``exp(m_j)`` (its max-state, as in ``reference.py``). A
read rescales all memories of a batch row and head to their common maximum ``M = max_j m_j`` and the
edge gates to their per-target maximum ``r_i = max_j b_ij``, so the sparse matrix is static per head and
every factor is <= 1; num, den and the floor 1 (which becomes ``exp(-(M + r_i))``) carry the same
scale, so the quotient is the unscaled one. A memory far below the row maximum underflows to 0 only when
``M - m_j`` exceeds ~87 (fp32), which bounded gate pre-activations rule out (the layer soft-caps them).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import torch
from torch import Tensor


class SourceMemory(NamedTuple):
    """Every source VD's memory after some step, divided by ``exp(m)``.

    Laid out heads, nodes, batch first -- (NH, N, B) -- so that one sparse (N, N) matrix per head reads
    every batch row at once, with no copy of the memories.

    Shapes:
        c (NH, N, B, DH, DH), ``c[a, b]`` pairing value entry a with key entry b; n (NH, N, B, DH) key sum;
        v (NH, N, B, DH) value sum; w (NH, N, B) weight sum; m (NH, N, B) max-state of each memory, or
        (NH, 1, B) when all memories of a batch row and head share one (the parallel form's choice).
    """

    c: Tensor
    n: Tensor
    v: Tensor
    w: Tensor
    m: Tensor


def source_memory_parallel(k: Tensor, v: Tensor, igate: Tensor, logf: Tensor) -> SourceMemory:
    """The memories after the last of T steps, in one pass (batched matmuls over time).

    All memories of a batch row and head are stored relative to their common maximum (``m`` is
    (NH, 1, B)), so a read needs no per-memory rescaling.

    Args:
        k, v: keys and values of every source at every step.
        igate: source input gates ``a`` (log space).
        logf: source log forget gates.

    Shapes:
        k, v: (NH, N, B, T, DH); igate, logf: (NH, N, B, T); returns :class:`SourceMemory`.
    """
    cum = logf.cumsum(-1)  # (NH, N, B, T)
    log_w = cum[..., -1:] - cum + igate  # (NH, N, B, T) forget gates after step s, plus the input gate
    m = log_w.amax(-1).amax(1, keepdim=True)  # (NH, 1, B) over steps and memories
    weight = torch.exp(log_w - m[..., None])  # (NH, N, B, T) every weight <= 1
    weighted_v = v * weight[..., None]  # (NH, N, B, T, DH)
    c = weighted_v.transpose(-1, -2) @ k  # (NH, N, B, DH, DH)
    n = (k * weight[..., None]).sum(-2)  # (NH, N, B, DH)
    return SourceMemory(c, n, weighted_v.sum(-2), weight.sum(-1), m)


def source_memory_step(
    k: Tensor, v: Tensor, igate: Tensor, logf: Tensor, state: SourceMemory | None = None
) -> SourceMemory:
    """One step of the recurrent form: O(DH^2) per source memory; each memory keeps its own max-state.

    Shapes:
        k, v: (NH, N, B, DH); igate, logf: (NH, N, B); state and result :class:`SourceMemory`.
    """
    if state is None:
        m = igate
        input_w = torch.ones_like(igate)  # exp(a - m) with m = a
        forget_w = None
    else:
        m = torch.maximum(logf + state.m, igate)
        input_w = torch.exp(igate - m)  # (NH, N, B)
        forget_w = torch.exp(logf + state.m - m)  # (NH, N, B)
    weighted_v = v * input_w[..., None]  # (NH, N, B, DH)
    c = weighted_v[..., :, None] * k[..., None, :]  # (NH, N, B, DH, DH)
    n = k * input_w[..., None]
    w = input_w
    if forget_w is not None:
        c = forget_w[..., None, None] * state.c + c
        n = forget_w[..., None] * state.n + n
        weighted_v = forget_w[..., None] * state.v + weighted_v
        w = forget_w * state.w + w
    return SourceMemory(c, n, weighted_v, w, m)


def read_neighbour_memories(
    memory: SourceMemory,
    q: Tensor,
    edge_gate: Tensor,
    src: Tensor,
    dst: Tensor,
    k_edge: Tensor | None = None,
) -> Tensor:
    """Each target reads its in-neighbours' memories with its own query.

    Args:
        memory: the sources' memories.
        q: the targets' queries (scaling left to the caller).
        edge_gate: log edge gates ``b`` of every edge and head; finite.
        src, dst: edge list (messages flow src -> dst), sorted by (dst, src) without duplicates (so the
            sparse matrix needs no coalescing); every target needs at least one in-edge.
        k_edge: optional per-edge key offset ``ke``.

    Returns:
        (NH, N, B, DH) the read of every target.

    Shapes:
        q: (NH, N, B, DH); edge_gate: (NH, E); src, dst: (E,) int64; k_edge: (NH, E, DH).
    """
    heads, nodes, batch, width = q.shape
    top = memory.m.amax(1, keepdim=True)  # (NH, 1, B) common maximum of each batch row and head
    shared = memory.m.shape[1] == 1  # already relative to it: nothing to rescale
    scale = None if shared else torch.exp(memory.m - top)  # (NH, N, B) <= 1
    row_max = torch.full((heads, nodes), float("-inf"), dtype=edge_gate.dtype, device=edge_gate.device)
    row_max = row_max.scatter_reduce(1, dst.expand(heads, -1), edge_gate, "amax")  # (NH, N) r_i
    edge_w = torch.exp(edge_gate - row_max.index_select(1, dst))  # (NH, E) <= 1
    c, n = memory.c, memory.n
    if scale is not None:
        c, n = c * scale[..., None, None], n * scale[..., None]
    row_ptr = torch.zeros(nodes + 1, dtype=torch.long, device=dst.device)
    row_ptr[1:] = torch.bincount(dst, minlength=nodes).cumsum(0)  # CSR rows = targets, columns = sources
    nums, dens = [], []
    # unbind, not c[h]: the backward of an index would fill a zero tensor of c's full size per head.
    # The sparse matmul runs in fp32 whatever autocast chose: CPU CSR kernels have no bf16, and the read
    # memories are sums of many terms.
    exact = torch.promote_types(c.dtype, torch.float32)  # fp32, or fp64 when the inputs are
    for w_h, c_h, n_h, q_h in zip(edge_w.unbind(0), c.unbind(0), n.unbind(0), q.unbind(0), strict=True):
        adjacency = _adjacency(row_ptr, src, w_h.to(exact), nodes)
        with torch.autocast(c_h.device.type, enabled=False):
            read_c = torch.sparse.mm(adjacency, c_h.reshape(nodes, -1).to(exact))  # (N, B*DH*DH)
            read_n = torch.sparse.mm(adjacency, n_h.reshape(nodes, -1).to(exact))  # (N, B*DH)
        read_c = read_c.view(nodes, batch, width, width).to(q_h.dtype)  # (N, B, DH, DH)
        read_n = read_n.view(nodes, batch, width).to(q_h.dtype)  # (N, B, DH)
        nums.append((read_c @ q_h[..., None])[..., 0])  # (N, B, DH)
        dens.append((read_n * q_h).sum(-1))  # (N, B)
    num, den = torch.stack(nums), torch.stack(dens)  # (NH, N, B, DH), (NH, N, B)
    if k_edge is not None:
        # The edge part of the keys: sum_j w_ij (ke_ij . q_i) (V_j, W_j), edge by edge.
        coeff = (q.index_select(1, dst) * k_edge[:, :, None]).sum(-1) * edge_w[..., None]  # (NH, E, B)
        v_src, w_src = memory.v.index_select(1, src), memory.w.index_select(1, src)  # (NH, E, B, DH), (NH, E, B)
        if scale is not None:
            src_scale = scale.index_select(1, src)  # (NH, E, B)
            v_src, w_src = v_src * src_scale[..., None], w_src * src_scale
        num = num.index_add(1, dst, coeff[..., None] * v_src)
        den = den.index_add(1, dst, coeff * w_src)
    floor = torch.exp(-(top + row_max[..., None]))  # (NH, N, B): the 1 of the normaliser, at the common scale
    return num / torch.maximum(den.abs(), floor)[..., None]


def _adjacency(row_ptr: Tensor, src: Tensor, values: Tensor, nodes: int) -> Tensor:
    """(N, N) sparse CSR matrix, rows = targets (edges sorted by (dst, src), checked by the layer).

    CSR rather than COO: its backward to the values (the learned edge gates) is a sampled matmul, about
    twice as fast on CPU as COO's.
    """
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the ops used here are stable
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(row_ptr, src, values, (nodes, nodes), check_invariants=False)
