"""Score a trained model and the non-learned baselines on the same test windows -> ``metrics.json``.

Under DDP (``trainer.strategy=ddp``) every rank scores the model and the baselines on the same batches,
its own share of the test windows; the float64 sums are added across ranks before the ratios, and only
rank 0 writes ``metrics.json`` (docs/distributed.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn

from social_xlstm.atomic import write_json_atomic
from social_xlstm.forecast.baselines import BASELINES, fit_historical_average, persistence
from social_xlstm.forecast.interpolation import NeighbourInterpolation, station_coordinates
from social_xlstm.metrics import MaskedErrors, sum_across_ranks, table_facts
from social_xlstm.quantiles import CalibrationResiduals, IntervalScores, apply_shifts


class Scoreboard:
    """One :class:`MaskedErrors` per forecaster (models and baselines), fed the same batches.

    Args:
        datamodule: a set-up ``TrafficDataModule`` (the historical average is fitted on its training range).
        models: name -> module mapping batches to ``(B, H, N, O)`` forecasts in original units.
        baselines: names from ``BASELINES``.
        mape_floor: targets below this magnitude are left out of MAPE.
        levels: quantile levels of the learned model being scored: the baselines then get intervals too,
            each level its point forecast plus that quantile of its residuals on the validation split
            (:func:`residual_shifts`), scored by the same :class:`~social_xlstm.quantiles.IntervalScores`.
        neighbour_model: with held-out VDs (``data.holdout_vds``), the model whose forecasts at the
            observed neighbours the ``idw_model`` baseline interpolates (default: the first of ``models``).

    With held-out VDs the test windows score them alone (``y_mask`` is theirs only), and each baseline is
    its forecast at the observed VDs carried to them by inverse-distance weighting
    (:mod:`social_xlstm.forecast.interpolation`): ``idw_persistence``, ``idw_historical_average`` and
    ``idw_model``, the model's own neighbour forecasts interpolated.
    """

    def __init__(
        self,
        datamodule,
        models: dict[str, torch.nn.Module] | None,
        baselines,
        mape_floor: float,
        levels: list[float] | None = None,
        neighbour_model: torch.nn.Module | None = None,
    ):
        self.info = info = datamodule.info()
        unknown = sorted(set(baselines) - set(BASELINES))
        if unknown:
            raise ValueError(f"unknown baseline(s) {unknown}; valid: {', '.join(BASELINES)}")
        self.forecasters, self.quantile_models = {}, {}
        for name, module in (models or {}).items():
            module.eval()
            device = next(module.parameters()).device
            self.forecasters[name] = lambda b, m=module, d=device: m({k: v.to(d) for k, v in b.items()}).cpu()
            if getattr(module, "levels", None):  # a quantile model: its calibrated levels are scored too
                self.quantile_models[name] = (
                    lambda b, m=module, d=device: m({k: v.to(d) for k, v in b.items()}, quantiles=True).cpu()
                )
                levels = levels or module.levels
        plain = {}
        if "persistence" in baselines:
            plain["persistence"] = lambda b: persistence(b, info)
        if "historical_average" in baselines:
            ha = fit_historical_average(datamodule, info)
            plain["historical_average"] = lambda b: ha(b, info.horizon)
        self.holdout = holdout_interpolation(datamodule, info) if info.holdout_vds else None
        if not info.holdout_vds:
            self.forecasters.update(plain)
        elif self.holdout is not None:  # the test scores held-out VDs alone: the baselines are their neighbours'
            interp = self.holdout
            for name, forecast in plain.items():
                self.forecasters[f"idw_{name}"] = lambda b, f=forecast: interp(f(b))
            if neighbour_model is not None or models:
                module = neighbour_model if neighbour_model is not None else next(iter(models.values()))
                device = next(module.parameters()).device
                self.forecasters["idw_model"] = (
                    lambda b, m=module, d=device: interp(m({k: v.to(d) for k, v in b.items()}).cpu())
                )
        self.baseline_names = [name for name in self.forecasters if name not in (models or {})]
        self.errors = {name: MaskedErrors(info.horizon, len(info.targets), mape_floor) for name in self.forecasters}
        self.levels = list(levels or [])
        self.shifts, self.intervals = {}, {}
        if self.levels:
            baseline_names = self.baseline_names
            self.shifts = residual_shifts(datamodule, {n: self.forecasters[n] for n in baseline_names}, self.levels)
            scored = [*baseline_names, *self.quantile_models]
            self.intervals = {n: IntervalScores(info.horizon, len(info.targets), self.levels) for n in scored}
        self.kinds = {name: "baseline" if name in self.baseline_names else "learned" for name in self.forecasters}
        self.windows = 0

    @torch.no_grad()
    def update(self, batch: dict[str, torch.Tensor]) -> None:
        """Score every forecaster on one batch (``y``, ``y_mask``: (B, H, N, O))."""
        self.windows += batch["x"].shape[0]
        for name, forecast in self.forecasters.items():
            if name in self.quantile_models:  # one forward: the median is the point forecast
                quantiles = self.quantile_models[name](batch).float()
                self.errors[name].update(quantiles[..., self.levels.index(0.5)], batch["y"], batch["y_mask"])
                self.intervals[name].update(quantiles, batch["y"], batch["y_mask"])
                continue
            point = forecast(batch).float()
            self.errors[name].update(point, batch["y"], batch["y_mask"])
            if name in self.intervals:
                quantiles = apply_shifts(point[..., None].expand(*point.shape, len(self.levels)), self.shifts[name])
                self.intervals[name].update(quantiles, batch["y"], batch["y_mask"])

    def all_reduce(self, device: torch.device | str | None = None) -> None:
        """Add up every rank's sums and window count (one collective; a no-op in a single process)."""
        states = [acc.state() for acc in self.errors.values()]
        flat = torch.cat([s.flatten() for s in states] + [torch.tensor([float(self.windows)], dtype=torch.float64)])
        total = sum_across_ranks(flat, device)
        self.windows = int(total[-1])
        offset = 0
        for acc, state in zip(self.errors.values(), states, strict=True):
            acc.load_state(total[offset : offset + state.numel()].view_as(state))
            offset += state.numel()
        for scores in self.intervals.values():
            scores.all_reduce(device)

    def result(self) -> dict:
        """The ``metrics.json`` content (docs/outputs.md)."""
        info = self.info
        return {
            "test_windows": self.windows,
            "horizon_minutes": [(h + 1) * info.freq_minutes for h in range(info.horizon)],
            "masked": True,
            "models": {
                name: self._with_intervals(name, acc.report(info.targets, info.freq_minutes))
                for name, acc in self.errors.items()
            },
            **table_facts(),
            "model_kinds": dict(self.kinds),
            **({"holdout": self._holdout_facts()} if info.holdout_vds else {}),
        }

    def _holdout_facts(self) -> dict:
        idw = None if self.holdout is None else {"neighbours": self.holdout.k, "power": self.holdout.power}
        return {"vds": list(self.info.holdout_vds), "scored": "held-out VDs only", "idw": idw}


    def _with_intervals(self, name: str, report: dict) -> dict:
        return self.intervals[name].add_to_report(report, self.info.targets) if name in self.intervals else report


def holdout_interpolation(datamodule, info) -> NeighbourInterpolation | None:
    """The held-out VDs' inverse-distance interpolation from the observed VDs with coordinates (None,
    with a warning, when the held-out VDs have no coordinates: the baselines are then left out, since a
    baseline's own forecast at a held-out VD would read that VD's readings)."""
    lat, lon = station_coordinates(datamodule.dataset.stations, info.vd_ids)
    hidden = np.zeros(info.num_vds, dtype=bool)
    hidden[info.holdout_index] = True
    readable = ~hidden
    readable[[info.vd_ids.index(vd) for vd in info.absent_vds]] = False
    try:
        return NeighbourInterpolation(lat, lon, hidden, readable)
    except ValueError as err:
        rank_zero_warn(f"data.holdout_vds: no inverse-distance baselines ({err})")
        return None


RESIDUAL_BATCHES = 200
"""Validation batches whose residuals set a baseline's quantiles (more adds little to H x O x Q quantiles)."""


@torch.no_grad()
def residual_shifts(datamodule, forecasters: dict, levels: list[float]) -> dict[str, torch.Tensor]:
    """Per baseline, ``(H, O, Q)``: the quantiles of ``y - forecast`` over validation windows (median 0).

    A baseline's intervals are its point forecast plus these empirical residual quantiles, per horizon
    step and target: the split the learned model's quantiles are calibrated on, so the table compares like
    with like. (Not the training split: the historical average is fitted there, and its in-sample residuals
    are too small: zero where a slot of the week occurs once.)
    """
    info = datamodule.info()
    residuals = {name: CalibrationResiduals(info.horizon, len(info.targets), levels) for name in forecasters}
    for k, batch in enumerate(datamodule.val_dataloader()):
        if k >= RESIDUAL_BATCHES:
            break
        for name, forecast in forecasters.items():
            point = forecast(batch).float()
            residuals[name].update(point[..., None].expand(*point.shape, len(levels)), batch["y"], batch["y_mask"])
    return {name: r.shifts(levels.index(0.5)) for name, r in residuals.items()}


@torch.no_grad()
def evaluate(datamodule, models: dict[str, torch.nn.Module] | None = None, baselines=BASELINES, mape_floor=1.0):
    """Masked MAE/RMSE/MAPE per horizon step for each model and baseline, on every test window.

    Args:
        datamodule: a set-up ``TrafficDataModule``.
        models: name -> module mapping batches to ``(B, H, N, O)`` forecasts in original units
            (e.g. a ``ForecastModule``).
        baselines: names from ``BASELINES``.
        mape_floor: targets below this magnitude are left out of MAPE.

    Returns:
        ``{"test_windows": ..., "horizon_minutes": [...], "masked": True, "models": {name: report}}`` where
        each report is ``MaskedErrors.report``'s per-variable dict.
    """
    board = Scoreboard(datamodule, models, baselines, mape_floor)
    for batch in datamodule.test_dataloader():
        board.update(batch)
    return board.result()


class MetricsWriter(Callback):
    """Lightning callback: scores the baselines on the model's test batches and writes ``metrics.json``.

    The baselines see exactly the batches ``test_step`` saw (under DDP: the rank's share, summed across
    ranks like the model's errors), so model and baselines are scored on the same windows.

    Args:
        output: path of the JSON file; None writes ``metrics.json`` in the trainer's ``default_root_dir``.
        baselines: non-learned baselines to score beside the model.
    """

    def __init__(self, output: str | None = None, baselines: list[str] | None = None):
        self.output = output
        self.baselines = list(BASELINES if baselines is None else baselines)
        self.metrics: dict | None = None
        self._board: Scoreboard | None = None

    def write(self, metrics: dict, root: str | Path) -> Path:
        """Keep ``metrics`` as :attr:`metrics`; rank 0 writes them to ``output`` (default ``root/metrics.json``)."""
        self.metrics = metrics
        path = Path(self.output or Path(root) / "metrics.json")
        if rank_zero_only.rank == 0:  # under torchrun/DDP one file, written once
            write_json_atomic(metrics, path)
            print(f"metrics: {path}")
        return path

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        levels = getattr(pl_module, "levels", None)  # a quantile model: the baselines get intervals too
        self._board = Scoreboard(
            trainer.datamodule, None, self.baselines, pl_module.mape_floor, levels, neighbour_model=pl_module
        )

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._board.update(batch)

    def on_test_end(self, trainer, pl_module) -> None:
        board, self._board = self._board, None
        if pl_module.test_report is None or board is None:
            return
        board.all_reduce(pl_module.device)
        metrics = board.result()
        name = pl_module.model_config.arch
        metrics["models"] = {name: pl_module.test_report, **metrics["models"]}
        metrics["model_kinds"] = {name: "learned", **metrics["model_kinds"]}
        self.write(metrics, trainer.default_root_dir)
