"""Social mLSTM in plain PyTorch: the parallel form (training) and the recurrent form (streaming).

Each memory (one per batch row, VD and head; the leading dims ``...`` below) reads, at every step,
K neighbour key/value pairs with their own input gates (docs/model.md, "Social mLSTM layer")::

    C_t = f_t C_{t-1} + sum_j exp(i~_tj) v_tj k_tj^T      n_t = f_t n_{t-1} + sum_j exp(i~_tj) k_tj
    out_t = C_t q_t / max(|n_t . q_t|, 1)

Both forms are stabilised by the max-state ``m_t = max(logf_t + m_{t-1}, max_j i~_tj)``: memories are
stored divided by ``exp(m_t)`` and the floor 1 of the normaliser becomes ``exp(-m_t)``. Unrolled,
``m_t = max_{s<=t, j} (sum_{u=s+1..t} logf_u + i~_sj)``, which is exactly the row maximum the parallel
form subtracts, so the two forms compute the same numbers up to rounding, not just the same limit.

Padded neighbours carry ``i~ = -inf`` (weight exactly 0). Every memory needs one finite gate per step
(the self loop), otherwise ``m`` is ``-inf`` and the result NaN.

Scaling of ``q . k`` (the usual ``1/sqrt(DH)``) is left to the caller.
"""

from __future__ import annotations

import torch
from torch import Tensor

MLSTMState = tuple[Tensor, Tensor, Tensor]
"""(C (..., DH, DH), n (..., DH), m (...)): matrix memory, normaliser and max-state."""


def social_mlstm_parallel(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    igate: Tensor,
    logf: Tensor,
    *,
    k_edge: Tensor | None = None,
    last_only: bool = False,
) -> Tensor:
    """All steps at once: every query against every (neighbour, source step) key, batched matmuls.

    For target step t and source (j, s) the log weight is ``F_t - F_s + i~_js`` with ``F`` the cumulative
    sum of ``logf`` (the forget gates applied after step s), masked to ``s <= t``. The key of source
    (j, s) is ``k[..., j, s, :] + k_edge[..., j, :]``: the edge part is the same at every step, so it
    enters the scores as one (T' x K) product instead of a K x T-sized sum of tensors.

    Args:
        q: queries of each memory.
        k: neighbour keys at each source step (node part).
        v: neighbour values at each source step.
        igate: log input gates ``i~`` (``-inf`` for padded neighbours).
        logf: log forget gates (e.g. ``logsigmoid(f~)``).
        k_edge: optional per-neighbour key offset (the edge-feature projection), broadcastable.
        last_only: evaluate only the last step's query (what a head fed by the last step needs):
            O(T*K*DH) per memory instead of O(T^2*K*DH). ``q`` may then hold just that step.

    Returns:
        out: (..., T, DH), or (..., 1, DH) with ``last_only``.

    Shapes:
        q: (..., T, DH) or, with last_only, (..., 1, DH); k, v: (..., K, T, DH); k_edge: (..., K, DH);
        igate: (..., K, T); logf: (..., T).
    """
    nbrs, steps, width = k.shape[-3:]
    cum = logf.cumsum(-1)  # (..., T)
    if last_only:
        q = q[..., -1:, :]  # (..., 1, DH)
        decay = cum[..., -1:, None] - cum[..., None, :]  # (..., 1, T)
    else:
        decay = cum[..., :, None] - cum[..., None, :]  # (..., T, T)  F_t - F_s
        future = torch.ones(steps, steps, dtype=torch.bool, device=q.device).triu(1)
        decay = decay.masked_fill(future, float("-inf"))
    log_w = decay[..., :, None, :] + igate[..., None, :, :]  # (..., T', K, T)
    # The max over sources is the recurrent max-state m_t (see module docstring); subtracting it keeps
    # every weight <= 1.
    m = log_w.flatten(-2).amax(-1)[..., None, None]  # (..., T', 1, 1)
    weights = torch.exp(log_w - m)  # (..., T', K, T)
    keys = k.reshape(*k.shape[:-3], nbrs * steps, width)  # (..., K*T, DH)
    values = v.reshape(*v.shape[:-3], nbrs * steps, width)  # (..., K*T, DH)
    scores = (q @ keys.transpose(-1, -2)).unflatten(-1, (nbrs, steps))  # (..., T', K, T)
    if k_edge is not None:
        scores = scores + (q @ k_edge.transpose(-1, -2))[..., None]  # (..., T', K, T)
    scores = (scores * weights).flatten(-2)  # (..., T', K*T)
    num = scores @ values  # (..., T', DH)
    den = torch.maximum(scores.sum(-1, keepdim=True).abs(), torch.exp(-m[..., 0]))  # (..., T', 1)
    return num / den


def social_mlstm_step(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    igate: Tensor,
    logf: Tensor,
    state: MLSTMState | None = None,
) -> tuple[Tensor, MLSTMState]:
    """One step of the recurrent form: O(K*DH^2) per memory.

    Args:
        q: query of each memory at this step.
        k: neighbour keys at this step.
        v: neighbour values at this step.
        igate: log input gates (``-inf`` for padded neighbours).
        logf: log forget gate.
        state: ``(C, n, m)`` after the previous step; ``None`` is the empty memory (``m = -inf``).

    Returns:
        out (..., DH) and the new state.

    Shapes:
        q: (..., DH); k, v: (..., K, DH); igate: (..., K); logf: (...);
        C: (..., DH, DH) with ``C[a, b]`` pairing value entry a with key entry b; n: (..., DH); m: (...).
    """
    m_new = igate.amax(-1)  # (...)
    if state is not None:
        c_prev, n_prev, m_prev = state
        m_new = torch.maximum(logf + m_prev, m_new)
    i_w = torch.exp(igate - m_new[..., None])  # (..., K)
    written_c = (v * i_w[..., None]).transpose(-1, -2) @ k  # (..., DH, DH)  sum_j w_j v_j k_j^T
    written_n = (k * i_w[..., None]).sum(-2)  # (..., DH)
    if state is None:
        c_new, n_new = written_c, written_n
    else:
        f_w = torch.exp(logf + m_prev - m_new)  # (...)
        c_new = f_w[..., None, None] * c_prev + written_c
        n_new = f_w[..., None] * n_prev + written_n
    num = (c_new @ q[..., :, None])[..., 0]  # (..., DH)
    den = torch.maximum((n_new * q).sum(-1, keepdim=True).abs(), torch.exp(-m_new)[..., None])  # (..., 1)
    return num / den, (c_new, n_new, m_new)


def social_mlstm_recurrent(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    igate: Tensor,
    logf: Tensor,
    state: MLSTMState | None = None,
) -> tuple[Tensor, MLSTMState]:
    """Loop :func:`social_mlstm_step` over T steps (the streaming form, used to check the parallel one).

    Shapes:
        as :func:`social_mlstm_parallel` without ``k_edge`` (add it to ``k`` first); returns
        out (..., T, DH) and the final state.
    """
    outs = []
    for t in range(k.shape[-2]):
        out, state = social_mlstm_step(
            q[..., t, :], k[..., t, :], v[..., t, :], igate[..., t], logf[..., t], state
        )
        outs.append(out)
    return torch.stack(outs, dim=-2), state  # (..., T, DH)


def social_mlstm_final_state(k: Tensor, v: Tensor, igate: Tensor, logf: Tensor) -> MLSTMState:
    """The recurrent state after all T steps, computed in one pass (to continue streaming after a window).

    Shapes:
        k, v: (..., K, T, DH) (edge part already added); igate: (..., K, T); logf: (..., T);
        returns C (..., DH, DH), n (..., DH), m (...).
    """
    nbrs, steps, width = k.shape[-3:]
    cum = logf.cumsum(-1)  # (..., T)
    log_w = ((cum[..., -1:] - cum)[..., None, :] + igate).flatten(-2)  # (..., K*T)
    m = log_w.amax(-1)  # (...)
    weights = torch.exp(log_w - m[..., None])  # (..., K*T)
    keys = k.reshape(*k.shape[:-3], nbrs * steps, width)  # (..., K*T, DH)
    values = v.reshape(*v.shape[:-3], nbrs * steps, width)  # (..., K*T, DH)
    c = (values * weights[..., None]).transpose(-1, -2) @ keys  # (..., DH, DH)
    n = (keys * weights[..., None]).sum(-2)  # (..., DH)
    return c, n, m
