"""Training curves from the CSV log Lightning writes (``lightning_logs/version_N/metrics.csv``)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from social_xlstm.errors import UserError


def find_training_log(run: str | Path) -> Path:
    """The newest ``metrics.csv`` under a run directory (or the file itself)."""
    run = Path(run)
    if run.is_file():
        return run
    logs = sorted(run.glob("lightning_logs/version_*/metrics.csv"), key=lambda p: p.stat().st_mtime)
    if not logs:
        raise UserError(f"{run}: no lightning_logs/version_*/metrics.csv (was the run trained here?)")
    return logs[-1]


def read_training_log(run: str | Path) -> pd.DataFrame:
    """The CSV log as a frame: ``epoch``, ``step`` and one column per logged value (NaN where not logged)."""
    path = find_training_log(run)
    try:
        log = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a readable CSV log ({err})") from err
    if not {"epoch", "step"} <= set(log.columns):
        raise UserError(f"{path}: not a Lightning CSV log (no 'epoch'/'step' columns; found {list(log.columns)})")
    return log


def plot_loss_curves(log: pd.DataFrame) -> Figure:
    """Training loss against step (left) and validation errors against epoch (right).

    The training loss is in the loss's own scale (``loss_scale: std`` divides by each target's std); the
    validation errors are in original units, pooled over all targets and horizon steps.
    """
    if "train_loss" not in log.columns:
        raise UserError(f"training log: no 'train_loss' column; found {list(log.columns)}")
    val_cols = [c for c in ("val_mae", "val_rmse", "val_mae_last") if c in log.columns]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    train = log.dropna(subset=["train_loss"])
    few = len(train) < 30  # a short run: mark the points (one logged point draws no line)
    left.plot(
        train["step"], train["train_loss"], lw=0.8, color="C0", alpha=1.0 if few else 0.5,
        marker="o" if few else None, ms=3, label="per logged step",
    )  # fmt: skip
    window = max(1, len(train) // 20)
    if window > 1:
        left.plot(
            train["step"], train["train_loss"].rolling(window, min_periods=1).mean(), color="C0", lw=1.8,
            label=f"running mean ({window} points)",
        )  # fmt: skip
    left.set_xlabel("optimizer step")
    left.set_ylabel("training loss")
    left.set_title("training loss")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    val = log.dropna(subset=val_cols[:1]) if val_cols else log.iloc[0:0]
    if val.empty:
        right.text(0.5, 0.5, "no validation logged", ha="center", va="center", transform=right.transAxes)
    labels = {"val_mae": "MAE", "val_rmse": "RMSE", "val_mae_last": "MAE at the last step"}
    for k, col in enumerate(val_cols):
        right.plot(val["epoch"] + 1, val[col], marker="o", color=f"C{k + 1}", label=labels[col])
    right.set_xlabel("epoch")
    right.set_ylabel("validation error (original units)")
    right.set_title("validation error (all targets pooled)")
    if val_cols and not val.empty:
        right.legend(fontsize=8)
        right.xaxis.get_major_locator().set_params(integer=True)
        right.set_xlim(0.5, val["epoch"].max() + 1.5)
    right.grid(alpha=0.3)
    fig.tight_layout()
    return fig
