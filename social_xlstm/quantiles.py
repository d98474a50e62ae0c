"""Quantile forecasts: the pinball loss, split-conformal calibration, and the interval scores of a test.

Shapes: ``pred`` (B, H, N, O, Q) quantiles for the Q ``levels``; ``target`` and ``mask`` (B, H, N, O).

- **Pinball loss** of level tau: ``tau * (y - q)`` when ``y >= q``, else ``(1 - tau) * (q - y)``, averaged
  over the observed targets and the levels.
- **Calibration** (conformal, one-sided per level): on the validation split, the shift of level tau for
  horizon step h and target o is the empirical tau-quantile of ``y - q_tau``, so the shifted level is
  exceeded by a share tau of the validation targets; the median is never shifted (the point forecast
  stays the model's), and the shifted levels are kept increasing by a running maximum (after training,
  where no gradient needs them). Under DDP each rank measures the shifts on its share of the validation
  windows and Lightning's buffer broadcast serves rank 0's to every rank; the test's interval sums are
  added across ranks as the point metrics are.
- **CRPS** is estimated from the quantiles as twice the mean pinball loss over the levels (the quantile
  decomposition of the CRPS, exact as the levels fill (0, 1); with 5 levels a coarse estimate, the same
  estimate for every model of a table). **Coverage** and **mean width** of each central interval whose
  two ends are among the levels (0.1 / 0.9: the 80% interval; 0.05 / 0.95: 90%).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

MAX_CALIBRATION_SAMPLES = 200_000
"""Residuals kept per (horizon step, target) to compute the calibration shifts (a random sample beyond)."""


def pinball(pred: Tensor, target: Tensor, mask: Tensor, levels: Sequence[float]) -> Tensor:
    """Mean pinball loss over observed targets and levels (a scalar)."""
    tau = torch.as_tensor(levels, dtype=pred.dtype, device=pred.device)  # (Q,)
    err = target[..., None] - pred  # (B, H, N, O, Q)
    loss = torch.maximum(tau * err, (tau - 1) * err)
    weight = mask[..., None].to(pred.dtype)
    return (loss * weight).sum() / (weight.sum() * len(levels)).clamp_min(1.0)


def central_intervals(levels: Sequence[float]) -> list[tuple[int, int, int]]:
    """``(lower index, upper index, nominal %)`` of each central interval among ``levels``."""
    out = []
    for i, low in enumerate(levels):
        for j, high in enumerate(levels):
            if low < 0.5 and abs(low + high - 1.0) < 1e-9:
                out.append((i, j, round(100 * (high - low))))
    return out


class CalibrationResiduals:
    """The residuals ``y - q`` of a validation pass, per (horizon step, target), a bounded random sample."""

    def __init__(self, horizon: int, outputs: int, levels: Sequence[float], seed: int = 0):
        self.levels = list(levels)
        self.parts: list[list[list[Tensor]]] = [[[] for _ in range(outputs)] for _ in range(horizon)]
        self.kept = torch.zeros(horizon, outputs, dtype=torch.long)
        self.generator = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def update(self, pred: Tensor, target: Tensor, mask: Tensor) -> None:
        err = (target[..., None] - pred).detach().float().cpu()  # (B, H, N, O, Q)
        mask = mask.detach().cpu().bool()
        for h in range(err.shape[1]):
            for o in range(err.shape[3]):
                rows = err[:, h, :, o][mask[:, h, :, o]]  # (n, Q)
                room = MAX_CALIBRATION_SAMPLES - int(self.kept[h, o])
                if rows.shape[0] > room:
                    pick = torch.randperm(rows.shape[0], generator=self.generator)[: max(room, 0)]
                    rows = rows[pick]
                if rows.shape[0]:
                    self.parts[h][o].append(rows)
                    self.kept[h, o] += rows.shape[0]

    def shifts(self, median_index: int) -> Tensor:
        """(H, O, Q) shifts: the tau-quantile of ``y - q_tau``; 0 for the median and where nothing was seen."""
        horizon, outputs = self.kept.shape
        out = torch.zeros(horizon, outputs, len(self.levels))
        tau = torch.tensor(self.levels)
        for h in range(horizon):
            for o in range(outputs):
                if not self.parts[h][o]:
                    continue
                rows = torch.cat(self.parts[h][o])  # (n, Q)
                n = rows.shape[0]
                # the finite-sample conformal level: ceil((n + 1) tau) / n for the upper side, and its mirror
                upper = torch.clamp(torch.ceil((n + 1) * tau) / n, max=1.0)
                lower = torch.clamp(torch.floor((n + 1) * tau) / n, min=0.0)
                level = torch.where(tau > 0.5, upper, lower)
                for q in range(len(self.levels)):
                    out[h, o, q] = torch.quantile(rows[:, q], float(level[q]))
        out[..., median_index] = 0.0
        return out


def apply_shifts(pred: Tensor, shifts: Tensor) -> Tensor:
    """Calibrated quantiles: ``pred`` (B, H, N, O, Q) + ``shifts`` (H, O, Q), kept increasing along Q."""
    shifted = pred + shifts.to(pred)[None, :, None]
    return torch.cummax(shifted, dim=-1).values


class IntervalScores:
    """Float64 sums of the interval metrics per (horizon step, target) over a test pass."""

    def __init__(self, horizon: int, outputs: int, levels: Sequence[float]):
        self.levels = list(levels)
        self.intervals = central_intervals(self.levels)
        shape = (horizon, outputs)
        self.count = torch.zeros(shape, dtype=torch.float64)
        self.pinball = torch.zeros(shape, dtype=torch.float64)
        self.inside = {pct: torch.zeros(shape, dtype=torch.float64) for _, _, pct in self.intervals}
        self.width = {pct: torch.zeros(shape, dtype=torch.float64) for _, _, pct in self.intervals}

    @torch.no_grad()
    def update(self, pred: Tensor, target: Tensor, mask: Tensor) -> None:
        pred, target = pred.detach().double().cpu(), target.detach().double().cpu()
        weight = mask.detach().cpu().double()  # (B, H, N, O)
        tau = torch.tensor(self.levels, dtype=torch.float64)
        err = target[..., None] - pred
        loss = torch.maximum(tau * err, (tau - 1) * err).mean(-1)  # (B, H, N, O)
        self.count += weight.sum(dim=(0, 2))
        self.pinball += (loss * weight).sum(dim=(0, 2))
        for low, high, pct in self.intervals:
            lo, hi = pred[..., low], pred[..., high]
            inside = ((target >= lo) & (target <= hi)).double()
            self.inside[pct] += (inside * weight).sum(dim=(0, 2))
            self.width[pct] += ((hi - lo) * weight).sum(dim=(0, 2))

    def all_reduce(self, device: torch.device | str | None = None) -> None:
        """Sum every DDP rank's sums into each rank (a collective every rank calls; a no-op in one process)."""
        from social_xlstm.metrics import sum_across_ranks

        parts = [self.count, self.pinball, *self.inside.values(), *self.width.values()]
        total = sum_across_ranks(torch.stack(parts), device).double().cpu()
        self.count, self.pinball = total[0].clone(), total[1].clone()
        n = len(self.intervals)
        self.inside = {pct: total[2 + k].clone() for k, pct in enumerate(self.inside)}
        self.width = {pct: total[2 + n + k].clone() for k, pct in enumerate(self.width)}

    def step_metrics(self, h: int, o: int) -> dict[str, float | None]:
        """``crps``, ``coverage_<pct>`` (share in [0, 1]) and ``width_<pct>`` of one (step, target)."""
        n = float(self.count[h, o])
        if n == 0:
            return {"crps": None, **{f"{k}_{p}": None for _, _, p in self.intervals for k in ("coverage", "width")}}
        out = {"crps": 2.0 * float(self.pinball[h, o]) / n}
        for _, _, pct in self.intervals:
            out[f"coverage_{pct}"] = float(self.inside[pct][h, o]) / n
            out[f"width_{pct}"] = float(self.width[pct][h, o]) / n
        return out

    def add_to_report(self, report: dict, variables: Sequence[str]) -> dict:
        """``report`` (:meth:`~social_xlstm.metrics.MaskedErrors.report`) with these metrics in every step."""
        for o, name in enumerate(variables):
            for h, step in enumerate(report[name]["steps"]):
                step.update(self.step_metrics(h, o))
        return report
