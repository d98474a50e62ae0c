"""``forecasts.parquet``: one row per (issue time, horizon step, VD, variable), written atomically."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from social_xlstm.atomic import write_parquet_atomic
from social_xlstm.data.info import DataInfo


def forecast_table(
    pred: np.ndarray,
    t0: np.ndarray,
    timestamps: pd.DatetimeIndex,
    info: DataInfo,
    actual_values: np.ndarray | None = None,
    actual_mask: np.ndarray | None = None,
) -> pa.Table:
    """Long forecast table (docs/outputs.md).

    Args:
        pred: (S, H, N, O) forecasts in original units for S issue times.
        t0: (S,) panel index of each issue time (the last input step).
        timestamps: (T,) UTC panel time grid.
        info: names of VDs and target variables.
        actual_values: (T, N, O) panel values of the targets, to fill ``actual`` (NaN where unknown).
        actual_mask: (T, N, O) True where observed.

    Returns:
        Columns ``issue_time, target_time, horizon_step, vd_id, variable, prediction, actual``, rows
        ordered by issue time, horizon step, VD, variable.
    """
    S, H, N, O = pred.shape
    steps = t0.reshape(S, 1) + np.arange(1, H + 1).reshape(1, H)  # (S, H)
    in_panel = steps < len(timestamps)
    # Naive UTC datetime64 so that target steps past the panel's end still get a time.
    grid = timestamps.tz_convert("UTC").tz_localize(None).values  # (T,) datetime64[ns]
    freq = np.timedelta64(int(info.freq_minutes * 60e9), "ns")
    target_time = grid[0] + steps.ravel() * freq  # (S*H,)
    actual = np.full((S, H, N, O), np.nan, dtype=np.float32)
    if actual_values is not None:
        clipped = np.where(in_panel, steps, 0)
        obs = actual_mask[clipped] & in_panel[..., None, None]  # (S, H, N, O)
        actual = np.where(obs, actual_values[clipped], np.nan).astype(np.float32)
    rep = N * O
    issue = np.repeat(grid[t0], H * rep)
    columns = {
        "issue_time": pa.array(issue, type=pa.timestamp("us", tz="UTC")),
        "target_time": pa.array(np.repeat(target_time, rep), type=pa.timestamp("us", tz="UTC")),
        "horizon_step": pa.array(np.tile(np.repeat(np.arange(1, H + 1, dtype=np.int16), rep), S)),
        "vd_id": pa.DictionaryArray.from_arrays(
            np.tile(np.repeat(np.arange(N, dtype=np.int32), O), S * H), pa.array(info.vd_ids, pa.string())
        ),
        "variable": pa.DictionaryArray.from_arrays(
            np.tile(np.arange(O, dtype=np.int32), S * H * N), pa.array(info.targets, pa.string())
        ),
        "prediction": pa.array(pred.astype(np.float32).ravel()),
        "actual": pa.array(actual.ravel(), from_pandas=True),
    }
    return pa.table(columns)


class ForecastWriter(BasePredictionWriter):
    """Lightning callback: collects ``predict`` outputs and writes ``forecasts.parquet`` at the end.

    Args:
        output: path of the Parquet file; None writes ``forecasts.parquet`` in the trainer's ``default_root_dir``.
    """

    def __init__(self, output: str | None = None):
        super().__init__(write_interval="epoch")
        self.output = output
        self.path: str | None = None
        """Where the last ``predict`` wrote its forecasts."""

    def write_on_epoch_end(self, trainer: L.Trainer, pl_module, predictions, batch_indices):
        if predictions and isinstance(predictions[0], list):  # several predict dataloaders
            predictions = [p for group in predictions for p in group]
        pred = torch.cat([p["pred"] for p in predictions]).float().cpu().numpy()
        t0 = torch.cat([p["t0"] for p in predictions]).cpu().numpy()
        dm = trainer.datamodule
        info = pl_module.info
        idx = info.target_index
        panel = dm.panel
        table = forecast_table(pred, t0, panel.timestamps, info, panel.values[..., idx], panel.mask[..., idx])
        path = self.output or str(Path(trainer.default_root_dir) / "forecasts.parquet")
        write_parquet_atomic(table, path)
        self.path = path
        print(f"forecasts: {path} ({table.num_rows:,} rows)")
