"""Score a trained model and the non-learned baselines on the same test windows -> ``metrics.json``."""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from social_xlstm.atomic import write_json_atomic
from social_xlstm.forecast.baselines import BASELINES, fit_historical_average, persistence
from social_xlstm.metrics import MaskedErrors


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

    def write(self, metrics: dict, root: str | Path) -> Path:
        """Keep ``metrics`` as :attr:`metrics` and write them to ``output`` (default ``root/metrics.json``)."""
        self.metrics = metrics
        path = write_json_atomic(metrics, self.output or Path(root) / "metrics.json")
        print(f"metrics: {path}")
        return path

    def on_test_end(self, trainer, pl_module) -> None:
        if pl_module.test_report is None:
            return
        metrics = evaluate(
            trainer.datamodule, models=None, baselines=self.baselines, mape_floor=pl_module.mape_floor
        )
        name = pl_module.model_config.arch
        metrics["models"] = {name: pl_module.test_report, **metrics["models"]}
        self.write(metrics, trainer.default_root_dir)
