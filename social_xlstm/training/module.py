"""The LightningModule: any forecaster of ``social_xlstm.nn`` trained on masked errors in original units."""

from __future__ import annotations

from dataclasses import asdict

import lightning as L
import torch

from social_xlstm.checkpoint import read_forecaster_checkpoint
from social_xlstm.data.info import DataInfo
from social_xlstm.errors import UserError
from social_xlstm.metrics import LOSSES, MaskedErrors
from social_xlstm.network import build_network
from social_xlstm.nn.config import EmbeddingConfig, EncoderConfig, HeadConfig, ModelConfig, SocialConfig
from social_xlstm.nn.registry import LIBRARY_MODELS
from social_xlstm.options import as_dataclass, init_fields
from social_xlstm.quantiles import CalibrationResiduals, IntervalScores, apply_shifts, pinball
from social_xlstm.training.optim import OptimConfig, build_optimizer
from social_xlstm.training.sequence import (
    EvalStream,
    TBPTTConfig,
    check_sequence_mode,
    optimizer_steps_per_batch,
    tbptt_step,
)
from social_xlstm.weights import fit_trained_weights


class ForecastModule(L.LightningModule):
    """Trains and evaluates a multi-horizon forecaster.

    The network predicts scaled targets; this module unscales them with the training scaler, so the loss
    and every metric are in original units (veh/5min, km/h, ...), masked to observed targets.

    Args:
        arch: which network (``social_xlstm``, its ablations or a baseline; social_xlstm.nn.registry).
        d_model: model width D.
        dropout: dropout on residual branches and in the head.
        embedding: input embedding options (VD embedding width, fallback probability).
        encoder: temporal encoder options (layers, sLSTM heads, backend, ...).
        social: social mLSTM fusion options (heads, context, forget init).
        head: forecasting head options (hidden width, last-value skip).
        optim: AdamW + warm-up/cosine schedule settings.
        loss: ``mae`` (default, as the metric), ``mse`` or ``huber``.
        loss_scale: ``none`` (errors in original units, so a variable with larger numbers, e.g. flow in
            veh/5min beside speed in km/h, weighs more) or ``std`` (each target's errors divided by its
            training standard deviation, so every target variable counts alike).
        mape_floor: targets with ``|actual|`` below this are left out of MAPE.
        tbptt: truncated backpropagation over long sequences, used when ``data_info.mode == "sequence"``
            (social_xlstm.training.sequence); forecasts then run continuously through val/test/predict.
        data_info: facts about the dataset; the CLI links it from the datamodule. Stored in the checkpoint
            with everything else needed to predict (VD ids, variables, scaler, graph).
    """

    def __init__(
        self,
        arch: str = "social_xlstm",
        d_model: int = 64,
        dropout: float = 0.1,
        embedding: EmbeddingConfig = EmbeddingConfig(),  # noqa: B008 - copied by ModelConfig, never mutated
        encoder: EncoderConfig = EncoderConfig(),  # noqa: B008
        social: SocialConfig = SocialConfig(),  # noqa: B008
        head: HeadConfig = HeadConfig(),  # noqa: B008
        optim: OptimConfig = OptimConfig(),  # noqa: B008
        loss: str = "mae",
        loss_scale: str = "none",
        mape_floor: float = 1.0,
        tbptt: TBPTTConfig = TBPTTConfig(),  # noqa: B008
        data_info: DataInfo | None = None,
    ):
        super().__init__()
        model = ModelConfig(arch, d_model, dropout, embedding, encoder, social, head)
        optim = as_dataclass(OptimConfig, optim)
        tbptt = as_dataclass(TBPTTConfig, tbptt)
        if data_info is None:
            raise UserError("ForecastModule needs data_info (the CLI links it from the datamodule)")
        data_info = as_dataclass(DataInfo, data_info)
        if loss not in LOSSES:
            raise UserError(f"unknown loss {loss!r}; valid: {', '.join(LOSSES)}")
        if loss_scale not in ("none", "std"):
            raise UserError(f"unknown loss_scale {loss_scale!r}; valid: none, std")
        # Plain dicts, so the checkpoint and hparams.yaml need no project classes to be read. The data
        # facts (graph, scaler, VD ids) travel in the checkpoint's own "data_info" entry, not in the
        # hyper-parameters: LightningCLI re-validates hyper-parameters on --ckpt_path, and a graph of
        # thousands of edges as nested lists takes minutes to type-check.
        self.save_hyperparameters(
            {
                **init_fields(model),
                "optim": init_fields(optim),
                "loss": loss,
                "loss_scale": loss_scale,
                "mape_floor": mape_floor,
                "tbptt": init_fields(tbptt),
            }
        )
        self.model_config, self.optim_config, self.info = model, optim, data_info
        self.loss_fn = LOSSES[loss]
        self.loss_scale = loss_scale
        self.mape_floor = mape_floor
        self.net = build_network(model, data_info)
        idx = data_info.target_index
        self.register_buffer("target_mean", torch.tensor([data_info.mean[i] for i in idx], dtype=torch.float32))
        self.register_buffer("target_std", torch.tensor([data_info.std[i] for i in idx], dtype=torch.float32))
        self._errors: MaskedErrors | None = None
        self.levels = list(model.head.levels)  # quantile levels, the median included; [] for a point model
        self._residuals: CalibrationResiduals | None = None
        self._intervals: IntervalScores | None = None
        if self.levels:
            if arch in LIBRARY_MODELS:
                raise UserError(f"model.head.quantiles: the library model {arch} has its own head, a point one")
            if data_info.mode == "sequence":
                raise UserError("model.head.quantiles needs data.mode window (sequence-mode quantiles are not built)")
            shape = (data_info.horizon, len(idx), len(self.levels))
            # per (horizon step, target, level), set on every validation pass: saved with the weights it fits
            self.register_buffer("quantile_shift", torch.zeros(shape, dtype=torch.float32))
        self.tbptt, self.stream = tbptt, None  # stream: a sequence-mode model's continuous evaluation
        if data_info.mode == "sequence":
            check_sequence_mode(tbptt, data_info.sequence_length, self.net)
            self.automatic_optimization, self.stream = False, EvalStream()
        self.test_report: dict | None = None

    def forward(self, batch: dict[str, torch.Tensor], quantiles: bool = False, calibrated: bool = True) -> torch.Tensor:
        """Forecast in original units; a quantile model's median, or with ``quantiles`` every level
        (calibrated unless ``calibrated`` is False or ``head.calibrate`` off).

        Shapes:
            batch["x"], batch["x_mask"]: (B, W, N, F); batch["time"]: (B, W, 4)
            returns: (B, H, N, O); for a batch of sampled VDs (``nodes``, ``target_pos``) (B, H, S, O);
            with ``quantiles`` (B, H, N, O, Q)
        """
        quantiles = quantiles and bool(self.levels)
        if self.stream is not None and not self.training:
            scaled = self.stream(self.net, batch)  # (B, H, N, O), carrying the state from window to window
        else:
            # a batch's hidden VDs (data.mask_vds) read as places without a detector: the fallback row
            hidden = {"fallback": batch["vd_hidden"]} if "vd_hidden" in batch else {}
            scaled = self.net(
                batch["x"], batch["x_mask"], batch["time"], nodes=batch.get("nodes"), quantiles=quantiles, **hidden
            )
        if "target_pos" in batch:  # a batch of sampled VDs: the loss is on the drawn targets only
            scaled = scaled.index_select(2, batch["target_pos"])  # (B, H, S, O[, Q])
        if not quantiles:
            return scaled.float() * self.target_std + self.target_mean
        out = scaled.float() * self.target_std[:, None] + self.target_mean[:, None]  # (B, H, N, O, Q)
        if calibrated and self.model_config.head.calibrate:
            out = apply_shifts(out, self.quantile_shift)
        return out

    def training_step(self, batch, batch_idx):
        if self.stream is not None:  # sequence mode: chunked forward, backward and optimiser steps
            self.stream.reset()
            loss = tbptt_step(self, batch, self.tbptt)
            self.log("train_loss", loss, prog_bar=True, batch_size=batch["x"].shape[0])
            return loss
        if self.levels:  # the pinball loss over every level, on the raw (uncalibrated) quantiles
            pred, target = self(batch, quantiles=True, calibrated=False), batch["y"]
            if self.loss_scale == "std":
                pred, target = pred / self.target_std[:, None], target / self.target_std
            loss = pinball(pred, target, batch["y_mask"], self.levels)
            if self.model_config.head.point_weight > 0:  # the median trained as a point model is
                median = pred[..., self.model_config.head.median_index]
                loss = loss + self.model_config.head.point_weight * self.loss_fn(median, target, batch["y_mask"])
            self.log("train_loss", loss, prog_bar=True, batch_size=batch["x"].shape[0])
            return loss
        pred, target = self(batch), batch["y"]
        if self.loss_scale == "std":
            pred, target = pred / self.target_std, target / self.target_std
        loss = self.loss_fn(pred, target, batch["y_mask"])
        self.log("train_loss", loss, prog_bar=True, batch_size=batch["x"].shape[0])
        return loss

    # Validation and test share one accumulator: full passes, every window, masked, original units.
    def _start_errors(self, stage: str = "val") -> None:
        if self.stream is not None:
            self.stream.reset()
        horizon, outputs = self.info.horizon, len(self.info.targets)
        self._errors = MaskedErrors(horizon, outputs, self.mape_floor)
        self._residuals = self._intervals = None
        if self.levels and stage == "val" and self.model_config.head.calibrate:
            self._residuals = CalibrationResiduals(horizon, outputs, self.levels)
        if self.levels and stage == "test":
            self._intervals = IntervalScores(horizon, outputs, self.levels)

    def _update_errors(self, batch) -> None:
        with torch.no_grad():
            if not self.levels:
                self._errors.update(self(batch), batch["y"], batch["y_mask"])
                return
            # validation reads the raw quantiles (they set the calibration), the test the calibrated ones
            q = self(batch, quantiles=True, calibrated=self._intervals is not None)  # (B, H, N, O, Q)
            self._errors.update(q[..., self.levels.index(0.5)], batch["y"], batch["y_mask"])  # the median
            for scores in (self._residuals, self._intervals):
                if scores is not None:
                    scores.update(q, batch["y"], batch["y_mask"])

    def on_validation_epoch_start(self):
        self._start_errors("val")

    def validation_step(self, batch, batch_idx):
        self._update_errors(batch)

    def on_validation_epoch_end(self):
        self._log_errors("val")
        if self._residuals is not None:  # the calibration of the weights just validated
            self.quantile_shift.copy_(self._residuals.shifts(self.levels.index(0.5)))

    def on_test_epoch_start(self):
        self._start_errors("test")

    def test_step(self, batch, batch_idx):
        self._update_errors(batch)

    def on_test_epoch_end(self):
        self._log_errors("test")
        self.test_report = self._errors.report(self.info.targets, self.info.freq_minutes)
        if self._intervals is not None:
            self._intervals.all_reduce(self.device)
            self._intervals.add_to_report(self.test_report, self.info.targets)

    def _log_errors(self, stage: str) -> None:
        errors = self._errors
        # DDP: each rank scored its own windows (none twice); add the sums up first (every rank calls it),
        # so the logged values, early stopping and the checkpoint choice see all windows.
        errors.all_reduce(self.device)
        count = errors.count.sum()
        if count == 0:
            return
        self.log(f"{stage}_mae", float(errors.abs.sum() / count), prog_bar=True)
        self.log(f"{stage}_rmse", float((errors.sq.sum() / count).sqrt()))
        last = errors.count[-1].sum().clamp_min(1)
        self.log(f"{stage}_mae_last", float(errors.abs[-1].sum() / last))

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["data_info"] = asdict(self.info)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # Lightning loads checkpoint["state_dict"] right after this hook: made to fit a module built for
        # data aligned to the checkpoint (added VDs, rebuilt graph; weights.py), refused otherwise.
        if "data_info" in checkpoint:
            checkpoint["state_dict"] = fit_trained_weights(
                self, checkpoint["state_dict"], checkpoint["data_info"], self.info
            )

    @classmethod
    def from_checkpoint(cls, path: str, map_location: str | torch.device = "cpu") -> ForecastModule:
        """Rebuild a trained module from its checkpoint alone (config, scaler, VD ids, graph, weights)."""
        checkpoint = read_forecaster_checkpoint(path, map_location)
        module = cls(**checkpoint["hyper_parameters"], data_info=checkpoint["data_info"])
        module.load_state_dict(checkpoint["state_dict"])
        return module.eval()

    def on_predict_epoch_start(self):
        if self.stream is not None:
            self.stream.reset()

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        if self.levels:
            q = self(batch, quantiles=True)  # (B, H, N, O, Q), calibrated
            return {"pred": q[..., self.levels.index(0.5)], "quantiles": q, "levels": self.levels, "t0": batch["t0"]}
        return {"pred": self(batch), "t0": batch["t0"]}

    def configure_optimizers(self):
        total = int(self.trainer.estimated_stepping_batches) if self.trainer is not None else 1000
        if self.stream is not None:  # manual optimisation: the schedule counts optimiser steps
            total *= optimizer_steps_per_batch(self.tbptt, self.info.sequence_length, self.info.window)
        optimizer, scheduler = build_optimizer(self.net, self.optim_config, total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
