"""Small helpers shared by the model and the baselines: edge-feature scaling, targets, the last-value skip."""

from __future__ import annotations

import torch
from torch import Tensor


def edge_attr_stats(edge_attr: Tensor) -> Tensor:
    """(2, Fe) float32: each edge-feature column's mean and (biased) standard deviation over the edges."""
    attr = edge_attr.float()
    return torch.stack([attr.mean(0), attr.std(0, unbiased=False)])


def standardise_edge_attr(edge_attr: Tensor, stats: Tensor | None = None) -> Tensor:
    """Z-score each edge-feature column (constant columns become 0).

    Edge features arrive in raw units (distances in metres, bearings in degrees); projecting them
    unscaled would saturate the social gates at initialisation. ``stats`` ((2, Fe) mean and std, from
    :func:`edge_attr_stats`) are those of the edges the model was trained on when a network has gained
    edges since (VDs added to a checkpoint's network), so the trained edges keep their trained values;
    None: the statistics of ``edge_attr`` itself.

    Shapes:
        edge_attr: (E, Fe) -> (E, Fe) float32
    """
    attr = edge_attr.float()
    if attr.numel() == 0:
        return attr
    mean, std = (edge_attr_stats(attr) if stats is None else torch.as_tensor(stats, dtype=torch.float32))[:, None]
    return torch.where(std > 1e-8, (attr - mean) / std.clamp_min(1e-8), torch.zeros_like(attr))


def last_observed(x: Tensor, x_mask: Tensor, index: Tensor) -> Tensor:
    """Last observed value of the selected variables in each window (0, the scaled mean, if none).

    Args:
        x: scaled inputs, 0 where missing.
        x_mask: True where observed.
        index: positions of the variables to read (the targets) in the feature axis.

    Returns:
        (B, N, O) the value at the latest observed step of each (VD, variable).

    Shapes:
        x, x_mask: (B, W, N, F); index: (O,)
    """
    values = x.index_select(-1, index)  # (B, W, N, O)
    mask = x_mask.index_select(-1, index)  # (B, W, N, O)
    steps = torch.arange(1, x.shape[1] + 1, device=x.device).view(1, -1, 1, 1)  # (1, W, 1, 1)
    latest = (mask * steps).argmax(dim=1, keepdim=True)  # (B, 1, N, O) last observed step (0 if none)
    picked = values.gather(1, latest)[:, 0]  # (B, N, O)
    return torch.where(mask.any(dim=1), picked, torch.zeros_like(picked))


def running_last_observed(
    x: Tensor, x_mask: Tensor, index: Tensor, value: Tensor, seen: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`last_observed` after every step of a sequence, continuing from the previous chunk's.

    At step t it is the latest observed value at or before t, the carried ``value`` where ``seen`` and
    nothing was observed in this chunk yet, else 0: so from ``seen = 0`` the value at the last step of a
    window equals :func:`last_observed` of that window.

    Args:
        x, x_mask, index: as :func:`last_observed`.
        value: carried last observed values; seen: 1 where one was ever observed, else 0.

    Returns:
        (B, T, N, O) the value after every step, and the new ``(value, seen)`` (B, N, O).

    Shapes:
        x, x_mask: (B, T, N, F); index: (O,); value, seen: (B, N, O).
    """
    values = torch.cat([value[:, None].to(x.dtype), x.index_select(-1, index)], dim=1)  # (B, T+1, N, O)
    mask = torch.cat([seen[:, None] > 0, x_mask.index_select(-1, index)], dim=1)  # (B, T+1, N, O)
    steps = torch.arange(1, x.shape[1] + 2, device=x.device).view(1, -1, 1, 1)  # (1, T+1, 1, 1)
    latest = (mask * steps).cummax(dim=1).values  # (B, T+1, N, O) 1 + last observed slot, 0 if none yet
    picked = values.gather(1, (latest - 1).clamp_min(0))  # (B, T+1, N, O)
    out = torch.where(latest > 0, picked, torch.zeros_like(picked))[:, 1:]  # (B, T, N, O)
    return out, out[:, -1].to(value.dtype), (latest[:, -1] > 0).to(seen.dtype)


def target_index_tensor(target_index: list[int] | None, num_features: int, num_outputs: int) -> Tensor:
    """Positions of the O targets among the F inputs (default: the first O), checked.

    Raises:
        ValueError: wrong length or a position outside [0, F).
    """
    index = list(range(num_outputs)) if target_index is None else list(target_index)
    if len(index) != num_outputs or any(not 0 <= i < num_features for i in index):
        raise ValueError(
            f"target_index {index} must list {num_outputs} feature positions in [0, {num_features})"
        )
    return torch.tensor(index, dtype=torch.long)
