import lightning as L
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch

from social_xlstm.atomic import write_parquet_atomic
from social_xlstm.data.datamodule import TrafficDataModule
from social_xlstm.data.info import DataInfo
from social_xlstm.forecast.writer import ForecastWriter, forecast_table, merge_parts
from social_xlstm.training.module import ForecastModule


def test_forecast_table_rows_times_and_actuals(tmp_path):
    info = DataInfo(
        vd_ids=["a", "b"],
        variables=["flow", "speed"],
        targets=["flow", "speed"],
        mean=[0, 0],
        std=[1, 1],
        edge_index=[[0, 0]],
        edge_attr=[[0.0]],
        freq_minutes=5,
        horizon=2,
    )
    ts = pd.date_range("2024-01-01", periods=4, freq="5min", tz="UTC")
    values = np.arange(4 * 2 * 2, dtype=np.float32).reshape(4, 2, 2)
    mask = np.ones_like(values, dtype=bool)
    mask[3, 1, 0] = False
    pred = np.full((2, 2, 2, 2), 7.0, dtype=np.float32)
    pred[1, 1, 1, 0] = -1.0
    t0 = np.array([1, 2])  # second issue time's step 2 lies past the panel end
    table = forecast_table(pred, t0, ts, info, values, mask)
    path = write_parquet_atomic(table, tmp_path / "f.parquet")
    df = pq.read_table(path).to_pandas()
    assert len(df) == 2 * 2 * 2 * 2
    assert list(df.columns) == [
        "issue_time",
        "target_time",
        "horizon_step",
        "vd_id",
        "variable",
        "prediction",
        "actual",
    ]
    row = df[(df.issue_time == ts[2]) & (df.horizon_step == 2) & (df.vd_id == "b") & (df.variable == "flow")]
    assert row.target_time.iloc[0] == ts[2] + pd.Timedelta("10min")
    assert row.prediction.iloc[0] == -1.0
    assert np.isnan(row.actual.iloc[0])  # past the end of the panel
    row = df[(df.issue_time == ts[2]) & (df.horizon_step == 1) & (df.vd_id == "b")]
    assert np.isnan(row[row.variable == "flow"].actual.iloc[0])  # masked
    assert row[row.variable == "speed"].actual.iloc[0] == values[3, 1, 1]
    row = df[(df.issue_time == ts[1]) & (df.horizon_step == 1) & (df.vd_id == "a") & (df.variable == "speed")]
    assert row.actual.iloc[0] == values[2, 0, 1]
    assert not list(tmp_path.glob(".*tmp"))


def _info3():
    return DataInfo(
        vd_ids=["a", "b", "c"],
        variables=["flow", "speed"],
        targets=["flow", "speed"],
        mean=[0, 0],
        std=[1, 1],
        edge_index=[[0, 0]],
        edge_attr=[[0.0]],
        freq_minutes=5,
        horizon=2,
    )


def test_merge_parts_of_interleaved_ranks_equals_one_table(tmp_path):
    info, rng = _info3(), np.random.default_rng(0)
    ts = pd.date_range("2024-01-01", periods=30, freq="5min", tz="UTC")
    values = rng.normal(size=(30, 3, 2)).astype(np.float32)
    mask = rng.random((30, 3, 2)) > 0.2
    pred = rng.normal(size=(21, 2, 3, 2)).astype(np.float32)
    t0 = np.arange(5, 26)
    whole = forecast_table(pred, t0, ts, info, values, mask)
    parts = []
    for rank in range(3):  # what DDP ranks write: every 3rd issue time, in batches of 2
        part = tmp_path / f"rank{rank}.parquet"
        with pq.ParquetWriter(part, whole.schema) as writer:
            mine = np.arange(rank, 21, 3)
            for start in range(0, len(mine), 2):
                b = mine[start : start + 2]
                writer.write_table(forecast_table(pred[b], t0[b], ts, info, values, mask))
        parts.append(part)
    out = tmp_path / "forecasts.parquet"
    rows = merge_parts([*parts, tmp_path / "rank3.parquet"], out, rows_per_issue=2 * 3 * 2, rows_per_group=40)
    merged = pq.read_table(out)
    assert rows == merged.num_rows == whole.num_rows
    assert merged.schema.equals(whole.schema) and merged.equals(whole)
    file = pq.ParquetFile(out)
    assert max(file.metadata.row_group(g).num_rows for g in range(file.num_row_groups)) < 40 + 12
    assert not list(tmp_path.glob(".*tmp"))


def test_predict_streams_forecasts_and_keeps_none_in_memory(tiny_dataset, tmp_path):
    dm = TrafficDataModule(str(tiny_dataset), window=6, horizon=2, batch_size=8, eval_batch_size=7)
    torch.manual_seed(0)
    module = ForecastModule(d_model=8, encoder={"heads": 2, "layers": 1}, social={"heads": 2}, data_info=dm.info())
    writer = ForecastWriter(str(tmp_path / "f.parquet"))
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[writer])
    assert trainer.predict(module, datamodule=dm, return_predictions=False) is None
    assert trainer.predict_loop.predictions == []
    module.eval()
    with torch.no_grad():
        out = [(module(b), b["t0"]) for b in dm.test_dataloader()]
    pred = torch.cat([p for p, _ in out]).numpy()
    t0 = torch.cat([t for _, t in out]).numpy()
    idx = dm.info().target_index
    expected = forecast_table(
        pred, t0, dm.panel.timestamps, dm.info(), dm.panel.values[..., idx], dm.panel.mask[..., idx]
    )
    got = pq.read_table(writer.path)
    assert got.drop(["prediction"]).equals(expected.drop(["prediction"]))
    np.testing.assert_allclose(got.column("prediction").to_numpy(), expected.column("prediction").to_numpy(), rtol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.parquet"]  # parts removed
