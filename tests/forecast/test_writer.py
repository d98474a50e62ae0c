import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from social_xlstm.atomic import write_parquet_atomic
from social_xlstm.data.info import DataInfo
from social_xlstm.forecast.writer import forecast_table


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
