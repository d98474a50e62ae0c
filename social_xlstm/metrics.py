"""Masked forecast errors, per horizon step and per variable, in original units (for training and forecast).

Every model (learned or baseline) is scored by the same :class:`MaskedErrors` accumulator over the same
test windows, so the numbers in ``metrics.json`` are comparable. A target counts only where it was
observed (``mask`` True); MAPE additionally skips targets whose magnitude is below ``mape_floor``
(an empty road at night has flow 0, and a percentage of 0 is undefined).

The metrics are one table, :data:`METRICS`: name -> the float64 sums it needs (:class:`Sum`, a per-target
term) -> the reducer that turns them into the value. :class:`MaskedErrors` accumulates the sums of the
table (each once, however many metrics read it) and reduces them per step and pooled over steps; the
reports, ``metrics.json`` (which lists the metric names, :func:`table_facts`) and the benchmark tables
iterate the same table. A new metric is one entry (with its sums, if they are new)::

    BIAS = Sum("signed", lambda t: (t.pred - t.target) * t.weight)
    METRICS["bias"] = Metric("bias", (BIAS, COUNT), ratio)

Under DDP every rank scores its own share of the windows (none twice); the sums are added across ranks
(:meth:`MaskedErrors.all_reduce`) before any ratio is taken, so the metrics equal a single process's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

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


@dataclass
class Terms:
    """One batch as the sums see it; the shared parts are computed once, whichever sums ask for them.

    Shapes:
        pred, target, weight: (B, H, N, O) float64 on the CPU; ``weight`` is the mask as 0/1.
    """

    pred: torch.Tensor
    target: torch.Tensor
    weight: torch.Tensor
    mape_floor: float

    @cached_property
    def err(self) -> torch.Tensor:
        """Masked absolute error ``|pred - target|``, 0 where unobserved."""
        return (self.pred - self.target).abs() * self.weight

    @cached_property
    def pct_weight(self) -> torch.Tensor:
        """The weight of MAPE: observed and ``|target| >= mape_floor``."""
        return self.weight * (self.target.abs() >= self.mape_floor)


@dataclass(frozen=True)
class Sum:
    """One float64 accumulator of :class:`MaskedErrors`: a per-target term summed over batch and VDs.

    Args:
        name: its key in ``MaskedErrors.sums``; metrics sharing a sum name share the accumulator.
        term: ``Terms -> (B, H, N, O)`` tensor, the contribution of every target.
    """

    name: str
    term: Callable[[Terms], torch.Tensor]


@dataclass(frozen=True)
class Metric:
    """A masked error measure: the sums it needs and the reducer that turns them into the value.

    Args:
        name: the key in ``metrics.json``, the reports and ``MaskedErrors.compute``.
        sums: the accumulators it reads, in the order ``reduce`` takes them.
        reduce: sums -> value, elementwise (called on the ``(H, O)`` sums per step, and on each variable's
            sums pooled over all steps for the average); NaN where nothing was counted.
        unit: unit of the value when it is not the variable's own (``"%"`` for MAPE), else None.
    """

    name: str
    sums: tuple[Sum, ...]
    reduce: Callable[..., torch.Tensor]
    unit: str | None = None


def ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den`` where ``den > 0``, NaN elsewhere (a count of 0 means nothing was observed)."""
    # counts are sums of 0/1 weights, so den > 0 means den >= 1 and the clamp changes no value
    return torch.where(den > 0, num / den.clamp_min(1), torch.full_like(den, math.nan))


COUNT = Sum("count", lambda t: t.weight)
"""Observed targets (every report states it per step)."""
ABS = Sum("abs", lambda t: t.err)
SQ = Sum("sq", lambda t: t.err.square())
PCT = Sum("pct", lambda t: t.err / t.target.abs().clamp_min(t.mape_floor) * t.pct_weight)
PCT_COUNT = Sum("pct_count", lambda t: t.pct_weight)

METRICS: dict[str, Metric] = {
    "mae": Metric("mae", (ABS, COUNT), ratio),
    "rmse": Metric("rmse", (SQ, COUNT), lambda sq, count: ratio(sq, count).sqrt()),
    "mape": Metric("mape", (PCT, PCT_COUNT), lambda pct, count: ratio(100.0 * pct, count), unit="%"),
}
"""The metric table, in the column order of every report; a new metric is one entry here."""


def table_facts(metrics: Mapping[str, Metric] = METRICS) -> dict:
    """What ``metrics.json`` states about its metrics: their names in column order and the units that
    are not the variable's own (``{"metrics": ["mae", "rmse", "mape"], "metric_units": {"mape": "%"}}``)."""
    return {
        "metrics": list(metrics),
        "metric_units": {name: m.unit for name, m in metrics.items() if m.unit is not None},
    }


class MaskedErrors:
    """Accumulates the sums of every metric of the table per (horizon step, variable).

    Shapes:
        update(pred, target, mask): each (B, H, N, O).

    Args:
        horizon: H.
        num_outputs: O.
        mape_floor: targets with ``|target| < mape_floor`` are left out of MAPE only.
        metrics: the metric table (default :data:`METRICS`); its sums, and ``count``, are accumulated.
    """

    def __init__(
        self, horizon: int, num_outputs: int, mape_floor: float = 1e-3, metrics: Mapping[str, Metric] = METRICS
    ):
        self.mape_floor = mape_floor
        self.metrics = dict(metrics)
        self._sum_terms: dict[str, Sum] = {COUNT.name: COUNT}
        for metric in self.metrics.values():
            for s in metric.sums:
                if self._sum_terms.setdefault(s.name, s) is not s:
                    raise ValueError(f"metric {metric.name}: another sum is already named {s.name!r}")
        shape = (horizon, num_outputs)
        # float64 sums: a test set has millions of targets and float32 sums drift.
        self.sums = {name: torch.zeros(shape, dtype=torch.float64) for name in self._sum_terms}

    def __getattr__(self, name: str) -> torch.Tensor:
        # a sum by name (``errors.abs``, ``errors.count``), as the training module reads them
        sums = self.__dict__.get("sums", {})
        if name in sums:
            return sums[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> None:
        if pred.shape != target.shape or pred.shape != mask.shape:
            raise ValueError(
                f"shapes differ: pred {tuple(pred.shape)}, target {tuple(target.shape)}, mask {tuple(mask.shape)}"
            )
        pred, target = pred.detach().double().cpu(), target.detach().double().cpu()
        terms = Terms(pred, target, mask.detach().cpu().double(), self.mape_floor)
        for name, s in self._sum_terms.items():
            self.sums[name] += s.term(terms).sum(dim=(0, 2))  # (H, O)

    def state(self) -> torch.Tensor:
        """The float64 sums stacked, ``(S, H, O)`` in the order of :attr:`sums` (what ranks add up)."""
        return torch.stack(list(self.sums.values()))

    def load_state(self, state: torch.Tensor) -> None:
        """Replace the sums by ``state`` (as :meth:`state` returns it, e.g. summed over ranks)."""
        expected = (len(self.sums), *self.sums[COUNT.name].shape)
        if state.shape != expected:
            raise ValueError(f"state shape {tuple(state.shape)} != {expected}")
        self.sums = dict(zip(self.sums, state.double().cpu().clone().unbind(0), strict=True))

    def all_reduce(self, device: torch.device | str | None = None) -> None:
        """Sum the accumulators of every DDP rank into each rank (no-op in a single process).

        Every rank must call it (a collective); ``device`` is where the collective runs (the rank's GPU
        under NCCL).
        """
        self.load_state(sum_across_ranks(self.state(), device))

    def _reduce(self, metric: Metric, sums: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return metric.reduce(*(sums[s.name] for s in metric.sums))

    def compute(self) -> dict[str, torch.Tensor]:
        """Per (step, variable) tensors of every metric (MAPE in percent) and ``count``; NaN where empty."""
        out = {name: self._reduce(metric, self.sums) for name, metric in self.metrics.items()}
        out["count"] = self.sums[COUNT.name].clone()
        return out

    def report(self, variables: list[str], freq_minutes: float) -> dict:
        """The ``metrics.json`` entry of one model.

        Returns:
            ``{variable: {"steps": [{step, minutes, mae, rmse, mape, count}, ...], "average": {mae, rmse, mape}}}``
            (one key per metric of the table); the average pools all observed targets of all steps (RMSE
            pools squared errors).
        """
        per = self.compute()
        out: dict = {}
        for o, name in enumerate(variables):
            steps = []
            for h in range(per["count"].shape[0]):
                step = {"step": h + 1, "minutes": (h + 1) * freq_minutes}
                step.update({metric: _num(per[metric][h, o]) for metric in self.metrics})
                step["count"] = int(per["count"][h, o])
                steps.append(step)
            pooled = {key: total[:, o].sum() for key, total in self.sums.items()}
            average = {metric: _num(self._reduce(m, pooled)) for metric, m in self.metrics.items()}
            out[name] = {"steps": steps, "average": average}
        return out


def _num(value: torch.Tensor) -> float | None:
    v = float(value)
    return None if math.isnan(v) else round(v, 6)
