"""Masked forecast errors, per horizon step and per variable, in original units (for training and forecast).

Every model (learned or baseline) is scored by the same :class:`MaskedErrors` accumulator over the same
test windows, so the numbers in ``metrics.json`` are comparable. A target counts only where it was
observed (``mask`` True); MAPE additionally skips targets whose magnitude is below ``mape_floor``
(an empty road at night has flow 0, and a percentage of 0 is undefined).

Under DDP every rank scores its own share of the windows (none twice); the sums are added across ranks
(:meth:`MaskedErrors.all_reduce`) before any ratio is taken, so the metrics equal a single process's.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist


def masked_mae(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over observed targets (the training loss).

    Shapes:
        pred, target, mask: any identical shape; ``mask`` bool.

    Returns:
        A scalar; 0 (with a gradient) when nothing is observed, so an all-missing batch never gives NaN.
    """
    weight = mask.to(pred.dtype)
    return ((pred - target).abs() * weight).sum() / weight.sum().clamp_min(1.0)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over observed targets."""
    weight = mask.to(pred.dtype)
    return ((pred - target).square() * weight).sum() / weight.sum().clamp_min(1.0)


def masked_huber(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """Huber loss over observed targets."""
    weight = mask.to(pred.dtype)
    err = torch.nn.functional.huber_loss(pred, target, reduction="none", delta=delta)
    return (err * weight).sum() / weight.sum().clamp_min(1.0)


LOSSES = {"mae": masked_mae, "mse": masked_mse, "huber": masked_huber}


def sum_across_ranks(values: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """``values`` summed over every process of the ``torch.distributed`` group; ``values`` itself outside one.

    Args:
        values: a tensor of the same shape on every rank.
        device: where the collective runs (NCCL needs the rank's GPU, gloo the CPU); None = ``values.device``.

    Returns:
        A new tensor on ``values.device`` (dtype kept: float64 sums stay float64).
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return values
    total = values.to(device or values.device, copy=True)
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total.to(values.device)


class MaskedErrors:
    """Accumulates masked absolute, squared and percentage errors per (horizon step, variable).

    Shapes:
        update(pred, target, mask): each (B, H, N, O).

    Args:
        horizon: H.
        num_outputs: O.
        mape_floor: targets with ``|target| < mape_floor`` are left out of MAPE only.
    """

    def __init__(self, horizon: int, num_outputs: int, mape_floor: float = 1e-3):
        self.mape_floor = mape_floor
        shape = (horizon, num_outputs)
        # float64 sums: a test set has millions of targets and float32 sums drift.
        self.abs = torch.zeros(shape, dtype=torch.float64)
        self.sq = torch.zeros(shape, dtype=torch.float64)
        self.pct = torch.zeros(shape, dtype=torch.float64)
        self.count = torch.zeros(shape, dtype=torch.float64)
        self.pct_count = torch.zeros(shape, dtype=torch.float64)

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> None:
        if pred.shape != target.shape or pred.shape != mask.shape:
            raise ValueError(
                f"shapes differ: pred {tuple(pred.shape)}, target {tuple(target.shape)}, mask {tuple(mask.shape)}"
            )
        pred, target = pred.detach().double().cpu(), target.detach().double().cpu()
        weight = mask.detach().cpu().double()
        err = (pred - target).abs() * weight
        self.abs += err.sum(dim=(0, 2))  # (H, O)
        self.sq += (err.square()).sum(dim=(0, 2))
        self.count += weight.sum(dim=(0, 2))
        pct_weight = weight * (target.abs() >= self.mape_floor)
        self.pct += (err / target.abs().clamp_min(self.mape_floor) * pct_weight).sum(dim=(0, 2))
        self.pct_count += pct_weight.sum(dim=(0, 2))

    def state(self) -> torch.Tensor:
        """The five float64 sums stacked: ``(5, H, O)`` abs, sq, pct, count, pct_count (what ranks add up)."""
        return torch.stack([self.abs, self.sq, self.pct, self.count, self.pct_count])

    def load_state(self, state: torch.Tensor) -> None:
        """Replace the sums by ``state`` (as :meth:`state` returns it, e.g. summed over ranks)."""
        if state.shape != (5, *self.abs.shape):
            raise ValueError(f"state shape {tuple(state.shape)} != {(5, *self.abs.shape)}")
        self.abs, self.sq, self.pct, self.count, self.pct_count = state.double().cpu().clone().unbind(0)

    def all_reduce(self, device: torch.device | str | None = None) -> None:
        """Sum the accumulators of every DDP rank into each rank (no-op in a single process).

        Every rank must call it (a collective); ``device`` is where the collective runs (the rank's GPU
        under NCCL).
        """
        self.load_state(sum_across_ranks(self.state(), device))

    def compute(self) -> dict[str, torch.Tensor]:
        """Per (step, variable) tensors ``mae``, ``rmse``, ``mape`` (percent) and ``count``; NaN where empty."""
        count = self.count.clone()
        nan = torch.full_like(count, math.nan)
        mae = torch.where(count > 0, self.abs / count.clamp_min(1), nan)
        rmse = torch.where(count > 0, (self.sq / count.clamp_min(1)).sqrt(), nan)
        mape = torch.where(self.pct_count > 0, 100.0 * self.pct / self.pct_count.clamp_min(1), nan)
        return {"mae": mae, "rmse": rmse, "mape": mape, "count": count}

    def report(self, variables: list[str], freq_minutes: float) -> dict:
        """The ``metrics.json`` entry of one model.

        Returns:
            ``{variable: {"steps": [{step, minutes, mae, rmse, mape, count}, ...], "average": {mae, rmse, mape}}}``;
            the average pools all observed targets of all steps (RMSE pools squared errors).
        """
        per = self.compute()
        out: dict = {}
        for o, name in enumerate(variables):
            steps = []
            for h in range(per["mae"].shape[0]):
                steps.append(
                    {
                        "step": h + 1,
                        "minutes": (h + 1) * freq_minutes,
                        "mae": _num(per["mae"][h, o]),
                        "rmse": _num(per["rmse"][h, o]),
                        "mape": _num(per["mape"][h, o]),
                        "count": int(per["count"][h, o]),
                    }
                )
            n, npct = self.count[:, o].sum(), self.pct_count[:, o].sum()
            average = {
                "mae": _num(self.abs[:, o].sum() / n) if n > 0 else None,
                "rmse": _num((self.sq[:, o].sum() / n).sqrt()) if n > 0 else None,
                "mape": _num(100.0 * self.pct[:, o].sum() / npct) if npct > 0 else None,
            }
            out[name] = {"steps": steps, "average": average}
        return out


def _num(value: torch.Tensor) -> float | None:
    v = float(value)
    return None if math.isnan(v) else round(v, 6)
