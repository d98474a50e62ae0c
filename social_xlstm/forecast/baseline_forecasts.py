"""The baselines' forecasts of the test windows in the ``forecasts.parquet`` schema, plus a ``model`` column.

So plots can draw persistence and the historical average beside a model's forecasts
(``social-xlstm plot forecast --baselines FILE``); their errors are in ``metrics.json`` already.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from social_xlstm.atomic import write_parquet_atomic
from social_xlstm.forecast.baselines import BASELINES, fit_historical_average, persistence
from social_xlstm.forecast.writer import forecast_table


@torch.no_grad()
def baseline_forecasts(datamodule, baselines=BASELINES) -> pa.Table:
    """Forecast every test window with each baseline; rows of all baselines, ``model`` naming each.

    Args:
        datamodule: a ``TrafficDataModule`` (the same windows ``predict`` forecasts).
        baselines: names from ``BASELINES``.
    """
    unknown = sorted(set(baselines) - set(BASELINES))
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; valid: {', '.join(BASELINES)}")
    info = datamodule.info()
    forecasters = {"persistence": lambda b: persistence(b, info)}
    if "historical_average" in baselines:
        ha = fit_historical_average(datamodule, info)
        forecasters["historical_average"] = lambda b: ha(b, info.horizon)
    preds: dict[str, list[np.ndarray]] = {name: [] for name in baselines}
    t0 = []
    for batch in datamodule.test_dataloader():
        t0.append(batch["t0"].numpy())
        for name in baselines:
            preds[name].append(forecasters[name](batch).float().numpy())  # (B, H, N, O)
    panel, idx = datamodule.panel, info.target_index
    t0 = np.concatenate(t0)
    tables = []
    for name in baselines:
        table = forecast_table(
            np.concatenate(preds[name]), t0, panel.timestamps, info, panel.values[..., idx], panel.mask[..., idx]
        )
        model = pa.DictionaryArray.from_arrays(np.zeros(table.num_rows, np.int32), pa.array([name], pa.string()))
        tables.append(table.append_column("model", model))
    return pa.concat_tables(tables).unify_dictionaries()


def write_baseline_forecasts(datamodule, path: str | Path, baselines=BASELINES) -> Path:
    """:func:`baseline_forecasts` written atomically to ``path``."""
    return write_parquet_atomic(baseline_forecasts(datamodule, baselines), path)
