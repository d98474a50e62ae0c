"""``social-xlstm fit|test|predict|evaluate``: LightningCLI over ForecastModule and TrafficDataModule.

The datamodule's :class:`~social_xlstm.data.info.DataInfo` (VD ids, variables, scaler, graph) is linked
into the model when both are instantiated, so configs never repeat dataset facts and checkpoints carry
them. LightningCLI's own ``validate`` subcommand is not exposed: ``social-xlstm validate`` checks datasets.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

from lightning.pytorch.callbacks import ProgressBar, RichProgressBar
from lightning.pytorch.cli import LightningCLI

from social_xlstm.data.datamodule import TrafficDataModule
from social_xlstm.forecast.evaluate import MetricsWriter, evaluate, write_json_atomic
from social_xlstm.forecast.writer import ForecastWriter
from social_xlstm.progress import progress_enabled
from social_xlstm.training.module import ForecastModule, read_checkpoint

# Library chatter that says nothing about the user's run.
warnings.filterwarnings("ignore", message=".*tensorboardX.*")
warnings.filterwarnings("ignore", message=".*LeafSpec.*")


class _DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "litlogger" not in message and "litmodels" not in message


logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropAdverts())


class SocialXLSTMCLI(LightningCLI):
    """LightningCLI with the data -> model link, the result writers and our progress-bar policy."""

    def __init__(self, *args, evaluate_mode: bool = False, **kwargs):
        self.evaluate_mode = evaluate_mode
        # LightningCLI warns when both sys.argv and args hold options; ours come only from args.
        sys.argv = sys.argv[:1]
        super().__init__(*args, **kwargs)

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {k: v for k, v in LightningCLI.subcommands().items() if k != "validate"}

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments(
            "data", "model.data_info", compute_fn=lambda dm: dm.info(), apply_on="instantiate"
        )
        parser.add_lightning_class_args(ForecastWriter, "forecasts")
        parser.add_lightning_class_args(MetricsWriter, "metrics")
        parser.set_defaults({"trainer.enable_progress_bar": progress_enabled()})
        if self.evaluate_mode:
            parser.add_argument("--ckpt_path", required=True, help="checkpoint to evaluate")

    def _instantiate_trainer(self, config, callbacks):
        callbacks = list(callbacks)
        user_bars = [c for c in (config.get("callbacks") or []) if isinstance(c, ProgressBar)]
        if config.get("enable_progress_bar", True) and not user_bars:
            callbacks.append(RichProgressBar(leave=True))
        return super()._instantiate_trainer(config, callbacks)


CLI_KWARGS = dict(
    model_class=ForecastModule,
    datamodule_class=TrafficDataModule,
    seed_everything_default=42,
    save_config_kwargs={"overwrite": True},
    auto_configure_optimizers=False,
)


def run_lightning_cli(argv: list[str]) -> SocialXLSTMCLI:
    """Run ``fit``/``test``/``predict`` (argv[0]) or ``evaluate`` with the remaining options."""
    if argv[0] == "evaluate":
        cli = SocialXLSTMCLI(args=argv[1:], run=False, evaluate_mode=True, **CLI_KWARGS)
        run_evaluate(
            cli.model,
            cli.datamodule,
            cli.config["ckpt_path"],
            cli.config["metrics"]["output"],
            cli.trainer.default_root_dir,
        )
        return cli
    return SocialXLSTMCLI(args=argv, **CLI_KWARGS)


def load_weights(model: ForecastModule, ckpt_path: str) -> None:
    """Load a checkpoint's weights into an already built module (same config and data)."""
    model.load_state_dict(read_checkpoint(ckpt_path)["state_dict"])


def run_evaluate(model, datamodule, ckpt_path: str, output: str | None, root: str) -> dict:
    """Score a checkpoint and the baselines on the test windows and write ``metrics.json``."""
    load_weights(model, ckpt_path)
    metrics = evaluate(datamodule, {model.model_config.arch: model}, mape_floor=model.mape_floor)
    path = output or str(Path(root) / "metrics.json")
    write_json_atomic(metrics, path)
    print(f"metrics: {path}")
    return metrics
