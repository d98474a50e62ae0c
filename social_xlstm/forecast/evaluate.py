"""Score a trained model and the non-learned baselines on the same test windows -> ``metrics.json``."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from social_xlstm.data.info import DataInfo
from social_xlstm.data.timefeatures import slot_of_week
from social_xlstm.forecast.baselines import HistoricalAverage, persistence
from social_xlstm.training.metrics import MaskedErrors

BASELINES = ("persistence", "historical_average")


def fit_historical_average(datamodule, info: DataInfo) -> HistoricalAverage:
    """Historical average of the targets fitted on the datamodule's training range."""
    panel = datamodule.panel
    idx = info.target_index
    slots_per_week = int(round(7 * 24 * 60 / info.freq_minutes))
    slots = slot_of_week(panel.timestamps, info.timezone, info.freq_minutes)
    return HistoricalAverage(
        panel.values[..., idx], panel.mask[..., idx], slots, slots_per_week, datamodule.split_ranges["train"]
    )


@torch.no_grad()
def evaluate(
    datamodule, models: dict[str, torch.nn.Module] | None = None, baselines=BASELINES, mape_floor=1.0
):
    """Masked MAE/RMSE/MAPE per horizon step for each model and baseline, on every test window.

    Args:
        datamodule: a set-up ``TrafficDataModule``.
        models: name -> module mapping batches to ``(B, H, N, O)`` forecasts in original units
            (e.g. a ``ForecastModule``).
        baselines: names from ``BASELINES``.
        mape_floor: targets below this magnitude are left out of MAPE.

    Returns:
        ``{"dataset": ..., "horizon_minutes": [...], "models": {name: report}}`` where each report is
        ``MaskedErrors.report``'s per-variable dict.
    """
    info = datamodule.info()
    unknown = sorted(set(baselines) - set(BASELINES))
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; valid: {', '.join(BASELINES)}")
    forecasters = {}
    for name, module in (models or {}).items():
        module.eval()
        device = next(module.parameters()).device
        forecasters[name] = lambda b, m=module, d=device: m({k: v.to(d) for k, v in b.items()}).cpu()
    if "persistence" in baselines:
        forecasters["persistence"] = lambda b: persistence(b, info)
    if "historical_average" in baselines:
        ha = fit_historical_average(datamodule, info)
        forecasters["historical_average"] = lambda b: ha(b, info.horizon)
    errors = {name: MaskedErrors(info.horizon, len(info.targets), mape_floor) for name in forecasters}
    n_windows = 0
    for batch in datamodule.test_dataloader():
        n_windows += batch["x"].shape[0]
        for name, forecast in forecasters.items():
            errors[name].update(forecast(batch).float(), batch["y"], batch["y_mask"])
    return {
        "test_windows": n_windows,
        "horizon_minutes": [(h + 1) * info.freq_minutes for h in range(info.horizon)],
        "masked": True,
        "models": {name: acc.report(info.targets, info.freq_minutes) for name, acc in errors.items()},
    }


def write_json_atomic(obj: dict, path: str | Path) -> Path:
    """Write JSON to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(obj, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)
    return path


class MetricsWriter(Callback):
    """Lightning callback: after ``test``, scores the baselines on the same windows and writes ``metrics.json``.

    Args:
        output: path of the JSON file; None writes ``metrics.json`` in the trainer's ``default_root_dir``.
        baselines: non-learned baselines to score beside the model.
    """

    def __init__(self, output: str | None = None, baselines: list[str] | None = None):
        self.output = output
        self.baselines = list(BASELINES if baselines is None else baselines)
        self.metrics: dict | None = None

    def on_test_end(self, trainer, pl_module) -> None:
        if pl_module.test_report is None:
            return
        metrics = evaluate(
            trainer.datamodule, models=None, baselines=self.baselines, mape_floor=pl_module.mape_floor
        )
        name = pl_module.model_config.arch
        metrics["models"] = {name: pl_module.test_report, **metrics["models"]}
        self.metrics = metrics
        path = self.output or str(Path(trainer.default_root_dir) / "metrics.json")
        write_json_atomic(metrics, path)
        print(f"metrics: {path}")
