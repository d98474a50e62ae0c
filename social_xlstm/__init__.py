"""Social-xLSTM: traffic forecasting with sLSTM encoders and a social mLSTM layer.

The Python front door (``docs/python-api.md``)::

    import social_xlstm as sx

    sx.ingest("wide", "speeds.csv", out="data/mine", variable="speed", unit="km/h", stations="st.csv")
    dataset = sx.load_dataset("data/mine")            # checked, with its stations, graph and dataset.json
    panel = sx.load_panel(dataset)                    # the (T, N, F) values and their masks
    exp = sx.Experiment(sx.load_config(sx.config_path("demo.yaml"), {"data": {"data_dir": "data/mine"}}))
    best = exp.fit(); exp.test(best); exp.predict(best)
    sx.viz.plot_error_by_horizon(sx.read_metrics(exp.root / "metrics.json"), "speed")

Every name is imported on first use, so ``import social_xlstm`` (and the command line's start-up) loads
neither torch nor Lightning until a name that needs them is asked for.
"""

import importlib

__version__ = "0.1.0"

_HOMES = {
    "social_xlstm.data.format.reader": ["load_dataset"],
    "social_xlstm.data.format.dataset": ["Dataset"],
    "social_xlstm.data.format.schema": ["DatasetMeta", "write_dataset"],
    "social_xlstm.data.format.validate": ["validate_dataset"],
    "social_xlstm.data.panel": ["Panel", "load_panel"],
    "social_xlstm.data.synth": ["simulate"],
    "social_xlstm.data.importers": ["IMPORTERS", "ingest"],
    "social_xlstm.data.datamodule": ["TrafficDataModule"],
    "social_xlstm.experiment": ["Experiment", "load_config"],
    "social_xlstm.demo": ["config_path", "run_demo"],
    "social_xlstm.checkpoint": ["read_checkpoint"],
    "social_xlstm.forecast.streaming": ["StreamError", "StreamingForecaster"],
    "social_xlstm.forecast.replay": ["panel_ticks", "replay"],
    "social_xlstm.forecast.baseline_forecasts": ["write_baseline_forecasts"],
    "social_xlstm.forecast.baselines": ["BASELINES"],
    "social_xlstm.metrics": ["METRICS"],
    "social_xlstm.viz.common": ["read_forecasts", "read_metrics"],
    "social_xlstm.errors": ["DataError", "UserError"],
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}
_MODULES = ("viz",)
"""Submodules offered whole: ``sx.viz`` holds every plot (each returns a matplotlib Figure)."""


def __getattr__(name: str):
    if name in _HOME_OF:
        value = getattr(importlib.import_module(_HOME_OF[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(f"social_xlstm.{name}")
    else:
        raise AttributeError(f"module 'social_xlstm' has no attribute {name!r}")
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = sorted([*_HOME_OF, *_MODULES])
