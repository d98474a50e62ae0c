"""``social-xlstm demo``: simulate a network, train Social-xLSTM, score it against baselines, plot, report."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from social_xlstm.errors import UserError

REPORT_MINUTES = (15, 30, 60)
# A Saturday: with 14 days and the 70/10/20 split the test part falls on weekdays, peaks included.
DEMO_START = "2024-03-02"
LEGACY_DEMO_MARK = "data/dataset.json"
"""What a demo directory written before the run mark holds (its simulated dataset): also ours to replace."""


CONFIG_DIR = Path(__file__).resolve().parent / "configs"
"""The packaged YAML configs (``configs/`` at the top of a checkout links here), so an installed wheel has them."""


def config_path(name: str) -> Path:
    """A packaged config file (the YAML files are the only place hyper-parameters live)."""
    path = CONFIG_DIR / name
    if not path.exists():
        known = ", ".join(sorted(p.name for p in CONFIG_DIR.glob("*.yaml")))
        raise UserError(f"{path}: config not found; packaged configs: {known}")
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
    from social_xlstm.experiment import Experiment, load_config
    from social_xlstm.outputs import RUN_MARK, check_output_dir, mark_run
    from social_xlstm.viz import write_plots

    out = Path(out)
    config = Path(config) if config else config_path("demo.yaml")
    # Every check before anything is deleted: the output must be a run of ours (or new), the config readable.
    check_output_dir(out, overwrite, [RUN_MARK, LEGACY_DEMO_MARK])
    load_config(config)
    if out.exists():
        shutil.rmtree(out)
    mark_run(out, "social-xlstm demo")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    data_dir = simulate(out / "data", vds=vds, days=days, seed=seed, start=DEMO_START)
    timings["synth"] = time.perf_counter() - t0

    overrides = {
        "seed_everything": seed,
        "data": {"data_dir": str(data_dir)},
        "trainer": {"default_root_dir": str(out)},
        "forecasts": {"output": str(out / "forecasts.parquet")},
        "metrics": {"output": str(out / "metrics.json")},
    }
    if max_epochs is not None:
        overrides["trainer"]["max_epochs"] = max_epochs
    t0 = time.perf_counter()
    exp = Experiment(load_config(config, overrides))
    best = exp.fit()
    timings["fit"] = time.perf_counter() - t0
    epochs = exp.trainer.current_epoch

    t0 = time.perf_counter()
    metrics = exp.test(best)
    timings["test"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    forecasts = exp.predict(best)
    timings["predict"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    plots = []
    targets = exp.model.info.targets
    for variable in targets:
        plots += write_plots(
            forecasts,
            out / "metrics.json",
            out / "plots",
            variable=variable,
            dataset=data_dir,  # stations, units and local time
        )
    timings["plots"] = time.perf_counter() - t0
    print_summary(metrics, targets, timings, epochs)
    print("\nfiles:")
    print(f"  dataset      {data_dir}")
    print(f"  checkpoint   {best or '(none: no validation split)'}")
    print(f"  metrics      {out / 'metrics.json'}")
    print(f"  forecasts    {forecasts}")
    for p in plots:
        print(f"  plot         {p}")
    return metrics


def print_summary(metrics: dict, variables: list[str], timings: dict[str, float], epochs: int) -> None:
    """Rich tables of every metric of ``metrics.json`` at 15/30/60 minutes per model, and the stage timings."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    for variable in variables:
        table = Table(title=f"masked test errors: {variable} (original units; MAPE in %)")
        table.add_column("model")
        names = metrics["metrics"]  # the metric table's names, in column order
        for minute in REPORT_MINUTES:
            for metric in names:
                table.add_column(f"{metric.upper()}@{minute:g}m", justify="right")
        for model, report in metrics["models"].items():
            steps = {s["minutes"]: s for s in report[variable]["steps"]}
            cells = []
            for minute in REPORT_MINUTES:
                s = steps.get(minute)
                cells += ["-"] * len(names) if s is None else [_fmt(s[metric]) for metric in names]
            table.add_row(model, *cells)
        console.print(table)
    total = sum(timings.values())
    parts = ", ".join(f"{k} {v:.0f}s" for k, v in timings.items())
    console.print(f"time: {total:.0f}s ({parts}); {epochs} epochs; {metrics['test_windows']} test windows")


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.2f}"
