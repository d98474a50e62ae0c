"""Training runs as a library: one config -> model, data, trainer and result writers (LightningCLI underneath).

``social-xlstm fit|test|predict`` are LightningCLI subcommands over :class:`SocialXLSTMCLI`;
``social-xlstm evaluate`` and the demo use :class:`Experiment`, the same parser and classes driven from
Python with a config dict::

    exp = Experiment(load_config("configs/demo.yaml", {"data": {"data_dir": "runs/x/data"}}))
    best = exp.fit()
    metrics = exp.test(best)          # also written to metrics.json
    forecasts = exp.predict(best)     # forecasts.parquet

The datamodule's :class:`~social_xlstm.data.info.DataInfo` (VD ids, variables, scaler, graph) is linked
into the model when both are instantiated, so configs never repeat dataset facts and checkpoints carry
them. LightningCLI's own ``validate`` subcommand is not exposed: ``social-xlstm validate`` checks datasets.
Nothing happens at import: library chatter is silenced when a CLI is built.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
import warnings
from pathlib import Path

import torch
import yaml
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar, RichProgressBar
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.plugins.io import CheckpointIO
from lightning.pytorch.utilities import rank_zero_info

from social_xlstm.allocator import keep_freed_memory
from social_xlstm.checkpoint import read_checkpoint
from social_xlstm.data.datamodule import TrafficDataModule
from social_xlstm.errors import UserError
from social_xlstm.forecast.evaluate import MetricsWriter, evaluate
from social_xlstm.forecast.writer import ForecastWriter
from social_xlstm.progress import progress_enabled
from social_xlstm.training.callbacks import DivergenceGuard, LastCheckpoint, RandomState
from social_xlstm.training.checkpoint_io import AtomicCheckpointIO
from social_xlstm.training.fit_speed import FitSpeed
from social_xlstm.training.module import ForecastModule


class _DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "litlogger" not in message and "litmodels" not in message


_DROP_ADVERTS = _DropAdverts()


def quiet_library_chatter() -> None:
    """Silence messages that say nothing about the user's run (idempotent)."""
    warnings.filterwarnings("ignore", message=".*tensorboardX.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    # Our args come from the command line already split off by cli.main (sys.argv stays whole, because
    # Lightning's DDP launcher re-runs sys.argv to start the other ranks).
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    # Under DDP our epoch metrics are summed across ranks before they are logged (MaskedErrors.all_reduce),
    # so Lightning's advice to add sync_dist=True does not apply.
    warnings.filterwarnings("ignore", message=".*when logging on epoch level in distributed setting.*")
    # The datamodule rewinds its own order on resume (data/shuffle.py), which Lightning cannot see.
    warnings.filterwarnings("ignore", message=".*resuming from a checkpoint that ended before the epoch ended.*")
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if _DROP_ADVERTS not in logger.filters:
        logger.addFilter(_DROP_ADVERTS)


class SocialXLSTMCLI(LightningCLI):
    """LightningCLI with the data -> model link, the result writers and our progress-bar policy.

    Args:
        args: command-line style options (a list of strings) or a config dict.
        evaluate_mode: add the ``--ckpt_path`` option of ``social-xlstm evaluate`` (with ``run=False``).
    """

    def __init__(self, *args, evaluate_mode: bool = False, **kwargs):
        self.evaluate_mode = evaluate_mode
        quiet_library_chatter()
        keep_freed_memory()  # large tensors reuse the heap's pages instead of page-faulting each step
        kwargs = {**CLI_KWARGS, **kwargs}
        super().__init__(*args, **kwargs)

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {k: v for k, v in LightningCLI.subcommands().items() if k != "validate"}

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data", "model.data_info", compute_fn=lambda dm: dm.info(), apply_on="instantiate")
        parser.add_lightning_class_args(ForecastWriter, "forecasts")
        parser.add_lightning_class_args(MetricsWriter, "metrics")
        parser.add_lightning_class_args(LastCheckpoint, "last_checkpoint")
        parser.set_defaults({"trainer.enable_progress_bar": progress_enabled()})
        parser.add_argument(
            "--tensorboard",
            type=bool,
            default=False,
            help="also write TensorBoard event files next to the CSV log (pip install 'social-xlstm[tensorboard]')",
        )
        if self.evaluate_mode:
            parser.add_argument("--ckpt_path", required=True, help="checkpoint to evaluate")

    def parse_arguments(self, parser, args) -> None:
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        if subcommand:
            check_ckpt_path(subcommand, self.config[subcommand].get("ckpt_path"))

    def before_instantiate_classes(self) -> None:
        # With a checkpoint the data follow the model (docs/new-data.md): the datamodule aligns the dataset
        # to the checkpoint's network and scaler, and the data -> model link then carries the aligned facts.
        if self.subcommand in ("test", "predict"):
            config = self.config[self.subcommand]
        elif self.evaluate_mode:
            config = self.config
            ckpt_path = config.get("ckpt_path")
            if ckpt_path and Path(ckpt_path).is_file():
                # LightningCLI reads a checkpoint's model options for its subcommands only; evaluate is ours
                hparams = read_checkpoint(ckpt_path).get("hyper_parameters") or {}
                self.config = config = self.parser.parse_object({"model": hparams}, config)
        else:
            return
        ckpt_path = config.get("ckpt_path")
        if ckpt_path and Path(ckpt_path).is_file() and config.data.get("reference") is None:
            config.data.reference = str(ckpt_path)

    def predict(self, model, datamodule=None, ckpt_path=None, return_predictions=None, **kwargs):
        """``social-xlstm predict``: ForecastWriter streams the forecasts to disk, so none are kept in memory."""
        return self.trainer.predict(
            model, datamodule=datamodule, ckpt_path=ckpt_path, return_predictions=False, **kwargs
        )

    def _instantiate_trainer(self, config, callbacks):
        callbacks = [*callbacks, DivergenceGuard(), RandomState(), FitSpeed()]
        check_trainer_options(config)
        if config.get("enable_checkpointing", True) is False:
            callbacks = drop_checkpoints(config, callbacks)
        user_checkpoints = [
            c
            for c in (config.get("callbacks") or [])
            if isinstance(c, ModelCheckpoint) and not isinstance(c, LastCheckpoint)
        ]
        if config.get("enable_checkpointing", True) is not False and not user_checkpoints:
            # LastCheckpoint is a ModelCheckpoint, so Lightning would no longer add its default one: keep it
            # (the newest epoch in version_N/checkpoints, e.g. for a protocol without a validation part)
            # first, so trainer.checkpoint_callback and Experiment.fit's best path are that one.
            callbacks.insert(0, ModelCheckpoint())
        plugins = config.get("plugins")
        plugins = [] if plugins is None else list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
        if not any(isinstance(p, CheckpointIO) for p in plugins):
            config["plugins"] = [*plugins, AtomicCheckpointIO()]
        user_bars = [c for c in (config.get("callbacks") or []) if isinstance(c, ProgressBar)]
        if config.get("enable_progress_bar", True) and not user_bars:
            callbacks.append(RichProgressBar(leave=True))
        if config.get("logger") in (None, True):
            config["logger"] = default_loggers(
                config.get("default_root_dir"), bool(self._get(self.config, "tensorboard"))
            )
        elif config.get("logger") is not False:
            config["logger"] = with_csv_log(config["logger"], config.get("default_root_dir"))
        try:
            return super()._instantiate_trainer(config, callbacks)
        except MisconfigurationException as err:  # e.g. accelerator gpu on a machine without one
            raise UserError(f"trainer options: {err}") from err


def drop_checkpoints(config, callbacks: list) -> list:
    """``trainer.enable_checkpointing: false`` honoured: the config's ModelCheckpoint callbacks and the
    project's LastCheckpoint are dropped (Lightning refuses the flag beside any of them), so no checkpoint is
    written; says so once, since ``test``/``predict`` then need a ``--ckpt_path`` from elsewhere."""
    configured = config.get("callbacks") or []
    configured = configured if isinstance(configured, (list, tuple)) else [configured]
    dropped = [c for c in [*configured, *callbacks] if isinstance(c, ModelCheckpoint)]
    config["callbacks"] = [c for c in configured if not isinstance(c, ModelCheckpoint)]
    if dropped:
        names = sorted({type(c).__name__ for c in dropped})
        rank_zero_info(
            f"trainer.enable_checkpointing=false: no checkpoint is written ({', '.join(names)} dropped); "
            "resume (--ckpt_path last), test and predict need a checkpoint from another run"
        )
    return [c for c in callbacks if not isinstance(c, ModelCheckpoint)]


def check_ckpt_path(subcommand: str, ckpt_path: str | None) -> None:
    """``test``/``predict`` need a checkpoint file; ``fit`` takes one or ``last``; a bad file is a UserError."""
    if ckpt_path is None:
        if subcommand in ("test", "predict"):
            raise UserError(
                f"social-xlstm {subcommand} needs --ckpt_path CKPT (a checkpoint written by fit); "
                "without one it would use untrained weights"
            )
        return
    if subcommand == "fit" and ckpt_path == "last":
        return  # Lightning finds the newest last*.ckpt of the checkpoint callbacks (none: a fresh start)
    read_checkpoint(ckpt_path)


def check_trainer_options(config) -> None:
    """Trainer options that Lightning would accept and then fail on (or train forever with)."""
    accelerator = str(config.get("accelerator"))
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise UserError(
            f"trainer.accelerator={accelerator} but this machine has no usable CUDA GPU "
            "(use --trainer.accelerator auto or cpu, e.g. configs/demo.yaml instead of configs/gpu.yaml)"
        )
    # The learning-rate schedule decays over a known number of steps, so training must be bounded.
    if config.get("max_epochs") == -1 and config.get("max_steps") in (None, -1):
        raise UserError(
            "trainer.max_epochs=-1 (no limit) needs a bound: the learning-rate schedule decays over a known "
            "number of steps; set trainer.max_steps, or a finite trainer.max_epochs (early stopping can end it sooner)"
        )


def default_loggers(root: str | None, tensorboard: bool = False) -> list:
    """The CSV log ``lightning_logs/version_N/metrics.csv``, and with ``tensorboard`` the event files in its
    ``tensorboard/`` folder.

    Explicit, because Lightning's own default swaps the CSV log for TensorBoard whenever tensorboard is
    installed; an explicit ``trainer.logger`` in a config replaces both.
    """
    root = root or os.getcwd()
    csv = CSVLogger(root, name="lightning_logs")
    if not tensorboard:
        return [csv]
    if not any(importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")):
        raise UserError("--tensorboard true needs the tensorboard package: pip install 'social-xlstm[tensorboard]'")
    # Same version folder as the CSV log, so one run's files stay together.
    return [csv, TensorBoardLogger(root, name="lightning_logs", version=csv.version, sub_dir="tensorboard")]


def with_csv_log(loggers, root: str | None) -> list:
    """The user's ``trainer.logger`` (one or a list: TensorBoard, MLflow, ...) with the CSV log first.

    ``plot``, the bench harness and the notebooks read ``lightning_logs/version_N/metrics.csv``, so the CSV
    log stays beside whatever the user adds; first, so checkpoints keep going to its version folder.
    """
    loggers = list(loggers) if isinstance(loggers, (list, tuple)) else [loggers]
    if any(isinstance(logger, CSVLogger) for logger in loggers):
        return loggers
    return [CSVLogger(root or os.getcwd(), name="lightning_logs"), *loggers]


CLI_KWARGS = dict(
    model_class=ForecastModule,
    datamodule_class=TrafficDataModule,
    seed_everything_default=42,
    save_config_kwargs={"overwrite": True},
    auto_configure_optimizers=False,
)


def load_config(path: str | Path, overrides: dict | None = None) -> dict:
    """A YAML config as a dict, with ``overrides`` merged in (nested dicts key by key, other values replace).

    Raises:
        UserError: the file is missing or not a YAML mapping.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: config not found")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(config, dict):
        raise UserError(f"{path}: a config must be a YAML mapping, got {type(config).__name__}")
    return merge_config(config, overrides or {})


def merge_config(base: dict, overrides: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class Experiment:
    """A configured run: the model, the datamodule, the trainer and the two result writers.

    Args:
        config: a config dict (as :func:`load_config` returns) or command-line style options.
        evaluate_mode: accept ``ckpt_path`` in the config (``social-xlstm evaluate``).
    """

    def __init__(self, config: dict | list[str], evaluate_mode: bool = False):
        cli = SocialXLSTMCLI(args=config, run=False, evaluate_mode=evaluate_mode)
        self.config = cli.config
        self.model: ForecastModule = cli.model
        self.datamodule: TrafficDataModule = cli.datamodule
        self.trainer = cli.trainer
        self.metrics_writer: MetricsWriter = cli.config_init["metrics"]
        self.forecast_writer: ForecastWriter = cli.config_init["forecasts"]

    @property
    def root(self) -> Path:
        """The trainer's output directory (``trainer.default_root_dir``)."""
        return Path(self.trainer.default_root_dir)

    def fit(self, ckpt_path: str | None = None) -> str | None:
        """Train (``ckpt_path="last"`` or a file: resume); returns the best checkpoint's path (None when no
        checkpoint callback monitors a metric)."""
        self.trainer.fit(self.model, datamodule=self.datamodule, ckpt_path=ckpt_path)
        monitored = [c for c in self.trainer.checkpoint_callbacks if getattr(c, "monitor", None)]
        return (monitored[0].best_model_path or None) if monitored else None

    def test(self, ckpt_path: str | None) -> dict:
        """Score the checkpoint (None: the weights in memory) and the baselines; writes ``metrics.json``."""
        self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=ckpt_path, verbose=False)
        return self.metrics_writer.metrics

    def predict(self, ckpt_path: str | None) -> str:
        """Forecast every test window with the checkpoint; writes ``forecasts.parquet`` and returns its path."""
        self.trainer.predict(self.model, datamodule=self.datamodule, ckpt_path=ckpt_path, return_predictions=False)
        return self.forecast_writer.path

    def evaluate(self, ckpt_path: str) -> dict:
        """:meth:`test` without a ``Trainer.test`` run: load the weights, score, write ``metrics.json``."""
        checkpoint = read_checkpoint(ckpt_path)
        self.model.on_load_checkpoint(checkpoint)  # fits the weights to data aligned to the checkpoint
        self.model.load_state_dict(checkpoint["state_dict"])
        model = self.model
        metrics = evaluate(
            self.datamodule, {model.model_config.arch: model}, self.metrics_writer.baselines, model.mape_floor
        )
        self.metrics_writer.write(metrics, self.root)
        return metrics


def run_lightning_cli(argv: list[str]) -> None:
    """Run ``fit``/``test``/``predict`` (argv[0]) or ``evaluate`` with the remaining options."""
    if argv[0] == "evaluate":
        exp = Experiment(argv[1:], evaluate_mode=True)
        exp.evaluate(exp.config["ckpt_path"])
        return
    SocialXLSTMCLI(args=argv)
