"""``forecasts.parquet``: one row per (issue time, horizon step, VD, variable), written atomically.

``predict`` streams: every batch's rows are appended to a part file of its rank (one Parquet row group per
batch), so memory does not grow with the number of issue times; at the end rank 0 merges the parts in
issue-time order into ``forecasts.parquet`` (also streaming) and removes them.
"""

from __future__ import annotations

import heapq
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from lightning.pytorch.callbacks import BasePredictionWriter

from social_xlstm.atomic import atomic_file
from social_xlstm.data.info import DataInfo


def forecast_table(
    pred: np.ndarray,
    t0: np.ndarray,
    timestamps: pd.DatetimeIndex,
    info: DataInfo,
    actual_values: np.ndarray | None = None,
    actual_mask: np.ndarray | None = None,
    quantiles: np.ndarray | None = None,
    levels: Sequence[float] = (),
) -> pa.Table:
    """Long forecast table (docs/outputs.md).

    Args:
        pred: (S, H, N, O) forecasts in original units for S issue times.
        t0: (S,) panel index of each issue time (the last input step).
        timestamps: (T,) UTC panel time grid.
        info: names of VDs and target variables.
        actual_values: (T, N, O) panel values of the targets, to fill ``actual`` (NaN where unknown).
        actual_mask: (T, N, O) True where observed.
        quantiles: (S, H, N, O, Q) forecast quantiles of a quantile model, for the ``levels``.
        levels: the Q quantile levels; each becomes a column (:func:`quantile_column`: 0.05 -> ``q05``).

    Returns:
        Columns ``issue_time, target_time, horizon_step, vd_id, variable, prediction, actual`` [, ``q05``
        ...] [, ``virtual``: with virtual VDs], rows ordered by issue time, horizon step, VD, variable.
    """
    keep = info.forecast_index  # VDs absent from data aligned to a checkpoint get no rows (docs/new-data.md)
    if len(keep) < info.num_vds and pred.shape[2] == info.num_vds:
        pred = pred[:, :, keep]
        quantiles = None if quantiles is None else quantiles[:, :, keep]
        actual_values = None if actual_values is None else actual_values[:, keep]
        actual_mask = None if actual_mask is None else actual_mask[:, keep]
        info = replace(info, vd_ids=[info.vd_ids[i] for i in keep], absent_vds=[])
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
    for q, level in enumerate(levels):
        columns[quantile_column(level)] = pa.array(quantiles[..., q].astype(np.float32).ravel())
    if info.virtual_vds:  # places without a detector (predict --at): flagged, same schema otherwise
        flag = np.isin(np.asarray(info.vd_ids), np.asarray(info.virtual_vds))  # (N,)
        columns["virtual"] = pa.array(np.tile(np.repeat(flag, O), S * H))
    return pa.table(columns)


def quantile_column(level: float) -> str:
    """The forecasts column of a quantile level: 0.05 -> ``q05``, 0.5 -> ``q50``, 0.975 -> ``q97_5``."""
    percent = f"{level * 100:g}"
    whole, _, part = percent.partition(".")
    return f"q{int(whole):02d}" + (f"_{part}" if part else "")


def parts_dir(path: str | Path) -> Path:
    """Where the ranks' part files of ``path`` live while ``predict`` runs (beside it: same file system)."""
    path = Path(path)
    return path.parent / f".{path.name}.parts"


def _issue_blocks(part: Path, rows_per_issue: int) -> Iterator[tuple[np.datetime64, pa.Table]]:
    """(issue time, its rows) of a part file in file order, one row group in memory at a time."""
    file = pq.ParquetFile(part)
    for group in range(file.num_row_groups):
        table = file.read_row_group(group)
        issue = table.column("issue_time").to_numpy()
        for start in range(0, table.num_rows, rows_per_issue):
            yield issue[start], table.slice(start, rows_per_issue)


def merge_parts(parts: list[Path], path: str | Path, rows_per_issue: int, rows_per_group: int = 1 << 20) -> int:
    """Merge part files, each ordered by issue time, into one file ordered by issue time, atomically.

    Args:
        parts: part files with the schema of :func:`forecast_table` (missing ones count as empty).
        path: the merged file.
        rows_per_issue: rows of one issue time (``H * N * O``): the blocks moved whole.
        rows_per_group: rows buffered per written row group (bounds the memory with the parts' row groups).

    Returns:
        The number of rows written.
    """
    parts = [p for p in parts if p.exists()]
    if not parts:
        raise ValueError(f"{path}: no forecast part to merge")
    schema = pq.read_schema(parts[0])
    blocks = heapq.merge(*(_issue_blocks(p, rows_per_issue) for p in parts), key=lambda block: block[0])
    rows = 0
    with atomic_file(path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        buffer: list[pa.Table] = []
        buffered = 0
        for _, block in blocks:
            buffer.append(block)
            buffered += block.num_rows
            if buffered >= rows_per_group:
                writer.write_table(pa.concat_tables(buffer))
                rows, buffer, buffered = rows + buffered, [], 0
        if buffer or rows == 0:
            writer.write_table(pa.concat_tables(buffer) if buffer else schema.empty_table())
            rows += buffered
    return rows


class ForecastWriter(BasePredictionWriter):
    """Lightning callback: streams ``predict`` outputs to disk and writes ``forecasts.parquet`` at the end.

    Each rank appends its batches to its own part file; after a barrier rank 0 merges them in issue-time
    order (the rows and their order are those of one process; docs/outputs.md). Nothing is kept in memory,
    so the CLI's ``predict`` runs with ``return_predictions=False``.

    Args:
        output: path of the Parquet file; None writes ``forecasts.parquet`` in the trainer's ``default_root_dir``.
    """

    def __init__(self, output: str | None = None):
        super().__init__(write_interval="batch")
        self.output = output
        self.path: str | None = None
        """Where the last ``predict`` wrote its forecasts."""
        self._part: Path | None = None
        self._writer: pq.ParquetWriter | None = None

    def _target(self, trainer: L.Trainer) -> Path:
        return Path(self.output or Path(trainer.default_root_dir) / "forecasts.parquet")

    def on_predict_epoch_start(self, trainer: L.Trainer, pl_module) -> None:
        self._close()
        folder = parts_dir(self._target(trainer))
        folder.mkdir(parents=True, exist_ok=True)
        self._part = folder / f"rank{trainer.global_rank:05d}.parquet"
        self._part.unlink(missing_ok=True)  # a crashed earlier run's part

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx):
        info = pl_module.info
        idx = info.target_index
        panel = trainer.datamodule.panel
        pred = prediction["pred"].float().cpu().numpy()  # (B, H, N, O)
        t0 = prediction["t0"].cpu().numpy()  # (B,)
        quantiles = prediction.get("quantiles")  # (B, H, N, O, Q) of a quantile model
        table = forecast_table(
            pred, t0, panel.timestamps, info, panel.values[..., idx], panel.mask[..., idx],
            quantiles=None if quantiles is None else quantiles.float().cpu().numpy(),
            levels=prediction.get("levels", ()),
        )  # fmt: skip
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._part, table.schema)
        self._writer.write_table(table)

    def on_predict_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        self._close()
        target = self._target(trainer)
        trainer.strategy.barrier("forecast parts written")
        if trainer.is_global_zero:
            info = pl_module.info
            parts = [parts_dir(target) / f"rank{r:05d}.parquet" for r in range(trainer.world_size)]
            rows = merge_parts(parts, target, info.horizon * len(info.forecast_index) * len(info.targets))
            shutil.rmtree(parts_dir(target), ignore_errors=True)
            print(f"forecasts: {target} ({rows:,} rows)")
        trainer.strategy.barrier("forecasts merged")
        self.path = str(target)

    def on_exception(self, trainer: L.Trainer, pl_module, exception: BaseException) -> None:
        self._close()
        if self._part is not None:
            self._part.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
