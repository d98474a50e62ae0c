"""``social-xlstm demo``: simulate a network, train Social-xLSTM, score it against baselines, plot, report."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from social_xlstm.errors import UserError

REPORT_MINUTES = (15, 30, 60)
# A Saturday: with 14 days and the 70/10/20 split the test part falls on weekdays, peaks included.
DEMO_START = "2024-03-02"


def config_path(name: str) -> Path:
    """A file of the repository's ``configs/`` directory (the only place hyper-parameters live)."""
    path = Path(__file__).resolve().parents[1] / "configs" / name
    if not path.exists():
        raise UserError(f"{path}: config not found (run from a checkout of the repository or pass --config)")
    return path


def run_demo(
    out: str | Path,
    config: str | Path | None = None,
    vds: int = 60,
    days: int = 14,
    seed: int = 0,
    max_epochs: int | None = None,
    overwrite: bool = False,
) -> dict:
    """synth -> fit -> test -> predict -> plots -> printed table. Returns the metrics dict.

    Args:
        out: output directory; holds ``data/``, ``checkpoints``, ``metrics.json``, ``forecasts.parquet``, ``plots/``.
        config: training config (default ``configs/demo.yaml``).
        vds, days, seed: simulation size and seed (the seed also seeds training).
        max_epochs: override of ``trainer.max_epochs``.
        overwrite: replace an existing output directory.
    """
    from social_xlstm.data.synth import simulate
    from social_xlstm.forecast.evaluate import MetricsWriter
    from social_xlstm.forecast.writer import ForecastWriter
    from social_xlstm.lightning_cli import CLI_KWARGS, SocialXLSTMCLI
    from social_xlstm.viz import write_plots

    out = Path(out)
    config = Path(config) if config else config_path("demo.yaml")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise UserError(f"{out}: exists and is not empty (use --overwrite or another --out)")
        shutil.rmtree(out)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    data_dir = simulate(out / "data", vds=vds, days=days, seed=seed, start=DEMO_START)
    timings["synth"] = time.perf_counter() - t0

    args = [
        "fit",
        "--config",
        str(config),
        "--data.data_dir",
        str(data_dir),
        "--seed_everything",
        str(seed),
        "--trainer.default_root_dir",
        str(out),
        "--forecasts.output",
        str(out / "forecasts.parquet"),
        "--metrics.output",
        str(out / "metrics.json"),
    ]
    if max_epochs is not None:
        args += ["--trainer.max_epochs", str(max_epochs)]
    t0 = time.perf_counter()
    cli = SocialXLSTMCLI(args=args, **CLI_KWARGS)
    timings["fit"] = time.perf_counter() - t0
    trainer = cli.trainer
    epochs = trainer.current_epoch
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    ckpt = "best" if best else None

    t0 = time.perf_counter()
    trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path=ckpt, verbose=False)
    timings["test"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    trainer.predict(cli.model, datamodule=cli.datamodule, ckpt_path=ckpt, return_predictions=False)
    timings["predict"] = time.perf_counter() - t0
    metrics = next(c for c in trainer.callbacks if isinstance(c, MetricsWriter)).metrics
    forecasts = next(c for c in trainer.callbacks if isinstance(c, ForecastWriter)).path

    t0 = time.perf_counter()
    plots = []
    for variable in cli.model.info.targets:
        plots += write_plots(
            forecasts,
            out / "metrics.json",
            out / "plots",
            stations=data_dir / "stations.parquet",
            variable=variable,
        )
    timings["plots"] = time.perf_counter() - t0
    print_summary(metrics, cli.model.info.targets, timings, epochs)
    print("\nfiles:")
    print(f"  dataset      {data_dir}")
    print(f"  checkpoint   {best or '(none: no validation split)'}")
    print(f"  metrics      {out / 'metrics.json'}")
    print(f"  forecasts    {forecasts}")
    for p in plots:
        print(f"  plot         {p}")
    return metrics


def print_summary(metrics: dict, variables: list[str], timings: dict[str, float], epochs: int) -> None:
    """Rich tables of masked MAE / RMSE / MAPE at 15/30/60 minutes per model, and the stage timings."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    for variable in variables:
        table = Table(title=f"masked test errors: {variable} (original units; MAPE in %)")
        table.add_column("model")
        for minute in REPORT_MINUTES:
            for metric in ("MAE", "RMSE", "MAPE"):
                table.add_column(f"{metric}@{minute:g}m", justify="right")
        for model, report in metrics["models"].items():
            steps = {s["minutes"]: s for s in report[variable]["steps"]}
            cells = []
            for minute in REPORT_MINUTES:
                s = steps.get(minute)
                cells += ["-"] * 3 if s is None else [_fmt(s["mae"]), _fmt(s["rmse"]), _fmt(s["mape"])]
            table.add_row(model, *cells)
        console.print(table)
    total = sum(timings.values())
    parts = ", ".join(f"{k} {v:.0f}s" for k, v in timings.items())
    console.print(f"time: {total:.0f}s ({parts}); {epochs} epochs; {metrics['test_windows']} test windows")


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.2f}"
