"""The streaming forecaster: one tick of readings in, the forecasts of every horizon and VD out (docs/streaming.md).

Two ways to serve a checkpoint, both with work and memory per tick independent of the history's length:

* ``window`` (every windowed checkpoint): a ring buffer of the last W steps; each tick reruns the windowed
  forward on it, so a forecast equals batch ``predict`` on the same window, number for number.
* ``state`` (checkpoints trained with ``data.mode: sequence``): the model's recurrent ``step`` from the
  state of the previous tick (sLSTM states, the conv's last inputs, the social layer's memories), as the
  sequence model's batch evaluation runs through its windows.

Time rules: ticks lie on the checkpoint's ``freq`` grid counted from the first tick; a tick earlier than
or equal to the last one (late, duplicated) or off the grid raises :class:`StreamError` and changes
nothing. A gap of k missed ticks is filled with k all-missing ticks: in ``window`` mode at most W (older
ones leave the buffer anyway), in ``state`` mode up to ``max_gap`` steps, beyond which the state restarts
from empty at the new tick. Readings are matched by ``vd_id`` (:mod:`.streaming_readings`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from torch import Tensor

from social_xlstm.data.format.consistency import unit_range
from social_xlstm.data.info import DataInfo
from social_xlstm.data.timefeatures import time_features
from social_xlstm.errors import UserError
from social_xlstm.forecast.streaming_readings import StreamError, tick_arrays
from social_xlstm.forecast.writer import forecast_table
from social_xlstm.network import load_network
from social_xlstm.quantiles import apply_shifts

MODES = ("auto", "window", "state")
MAX_WARNED = 10_000
"""Unknown VD ids remembered (so each is warned about once); beyond that they are warned about, not kept."""
STATE_FORMAT = "social-xlstm-streaming"
STATE_VERSION = 1

__all__ = ["MODES", "StreamError", "StreamingForecaster"]


class StreamingForecaster:
    """Forecasts tick by tick from a trained forecaster (build it with :meth:`from_checkpoint`).

    Args:
        net: the trained network (a :class:`~social_xlstm.nn.Forecaster`, or any windowed network in
            ``window`` mode), in eval mode.
        info: the checkpoint's data facts (VD ids, variables, targets, scaler, freq, W, H, time zone).
        mode: ``auto`` (``state`` for a checkpoint trained with ``data.mode: sequence``, else ``window``),
            ``window`` or ``state``.
        max_gap: ``state`` mode: the longest gap (missed ticks) filled step by step; a longer one restarts
            the state. Default W.

    Raises:
        UserError: an unknown mode, ``state`` mode for a network without a recurrent form.
    """

    def __init__(self, net, info: DataInfo, mode: str = "auto", max_gap: int | None = None):
        if mode not in MODES:
            raise UserError(f"unknown streaming mode {mode!r}; valid: {', '.join(MODES)}")
        if mode == "auto":
            mode = "state" if info.mode == "sequence" else "window"
        if mode == "state" and not getattr(net, "supports_state", False):
            arch = getattr(getattr(net, "config", None), "arch", type(net).__name__)
            raise UserError(f"streaming mode 'state' needs a recurrent forecaster; arch {arch!r} has none (use window)")
        if max_gap is not None and max_gap < 0:
            raise UserError(f"max_gap must be >= 0, got {max_gap}")
        self.net, self.info, self.mode = net.eval(), info, mode
        self.max_gap = info.window if max_gap is None else int(max_gap)
        self._vd_index = pd.Index(info.vd_ids)
        self._mean = torch.tensor(info.mean, dtype=torch.float32)  # (F,)
        self._std = torch.tensor(info.std, dtype=torch.float32)
        # Readings outside their unit's plausible range are missing (the range validate checks datasets with).
        self._ranges = [unit_range(str(info.units.get(name, ""))) for name in info.variables]
        idx = info.target_index
        self._target_mean = torch.tensor([info.mean[i] for i in idx], dtype=torch.float32)  # (O,)
        self._target_std = torch.tensor([info.std[i] for i in idx], dtype=torch.float32)
        self.freq = pd.Timedelta(minutes=info.freq_minutes)
        # A quantile model (head.quantiles) serves its calibrated levels too, in either mode.
        head = getattr(getattr(net, "config", None), "head", None)
        self.levels = list(getattr(head, "levels", ()))
        self._shift = getattr(net, "quantile_shift", None)
        self.reset()

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        mode: str = "auto",
        max_gap: int | None = None,
        map_location: str = "cpu",
        at: str | Path | None = None,
        at_edges: str | Path | None = None,
        stations: str | Path | None = None,
    ) -> StreamingForecaster:
        """Rebuild the network, scaler, VD ids, variables, freq and graph from a checkpoint file alone; with
        ``at`` / ``at_edges`` also forecast virtual VDs (places without a detector, docs/virtual-vds.md),
        placed by the stations of the dataset ``stations``.

        Raises:
            UserError: an unreadable or foreign checkpoint (see :mod:`social_xlstm.checkpoint`), a bad mode,
                virtual VDs without ``stations``, a bad points file.
        """
        if at is None and at_edges is None:
            net, info = load_network(path, map_location=map_location)
        elif stations is None:
            raise UserError(
                "virtual VDs (--at) are placed by the detectors' stations: give the dataset (--stations DIR)"
            )
        else:
            from social_xlstm.forecast.virtual_network import network_with_virtual_vds

            net, info = network_with_virtual_vds(path, stations, at, at_edges, map_location)
        return cls(net, info, mode=mode, max_gap=max_gap)

    # -- what it serves ---------------------------------------------------------------------------------
    @property
    def vd_ids(self) -> list[str]:
        return list(self.info.vd_ids)

    @property
    def variables(self) -> list[str]:
        """Input variables, in the order the model reads them."""
        return list(self.info.variables)

    @property
    def targets(self) -> list[str]:
        return list(self.info.targets)

    @property
    def window(self) -> int:
        return self.info.window

    @property
    def horizon(self) -> int:
        return self.info.horizon

    @property
    def last_timestamp(self) -> pd.Timestamp | None:
        return self._last

    @property
    def latest(self) -> pd.DataFrame | None:
        """The forecasts of the last update (forecasts.parquet schema), or None before the first."""
        if self._latest is None:
            return None
        return self._table(self._latest, self._last).to_pandas()

    def reset(self) -> None:
        """Forget every tick: the next update starts an empty history."""
        self._last: pd.Timestamp | None = None
        self._latest: Tensor | None = None  # (H, N, O) forecasts of the last tick, original units
        self._buffer: dict[str, Tensor] | None = None  # window mode: x, mask (W, N, F), time (W, 4)
        self._state: dict[str, Tensor] | None = None  # state mode: the network's recurrent state
        self._warned: set[str] = set()
        self.last_implausible: dict[str, int] = {}  # variable -> readings of the last tick read as missing

    # -- one tick ---------------------------------------------------------------------------------------
    def update(self, timestamp, readings: pd.DataFrame) -> pd.DataFrame:
        """Take the readings of one tick and return the forecasts issued at it (see :meth:`update_table`)."""
        return self._update(timestamp, readings, caller_depth=3).to_pandas()

    def update_table(self, timestamp, readings: pd.DataFrame) -> pa.Table:
        """Take the readings of one tick and return the forecasts issued at it, as an Arrow table.

        Args:
            timestamp: the tick's time, time-zone aware (any zone; forecasts are in UTC).
            readings: ``vd_id`` and any of :attr:`variables` (NaN = missing; see :mod:`.streaming_readings`).

        Returns:
            ``issue_time, target_time, horizon_step, vd_id, variable, prediction, actual`` (actual NaN),
            one row per horizon step, VD and target variable.

        Raises:
            StreamError: late, duplicated, off-grid or naive timestamp, unreadable readings; nothing changes.
        """
        return self._update(timestamp, readings, caller_depth=3)

    def _update(self, timestamp, readings: pd.DataFrame, caller_depth: int) -> pa.Table:
        # All or nothing: the new window or state, forecasts and table are computed first and committed
        # last, so a tick that fails anywhere (a time past the calendar's end, a bad reading) leaves the
        # forecaster exactly as it was, and the next valid tick is answered as if it had never come.
        ts = self._check_time(timestamp)
        x, mask, unknown, implausible = tick_arrays(
            readings, self._vd_index, self.info.variables, self._mean, self._std, self._ranges
        )
        missed = 0 if self._last is None else int((ts - self._last) / self.freq) - 1
        with torch.inference_mode():
            if self.mode == "window":
                scaled, buffer, state = *self._window_tick(ts, x, mask, missed), self._state
            else:
                scaled, state = self._state_tick(ts, x, mask, missed)
                buffer = self._buffer
        if scaled.dim() == 4:  # (H, N, O, Q) quantiles, calibrated as test and predict calibrate them
            latest = scaled.float() * self._target_std[:, None] + self._target_mean[:, None]
            if self._shift is not None:
                latest = apply_shifts(latest[None], self._shift)[0]
        else:
            latest = scaled.float() * self._target_std + self._target_mean  # (H, N, O) original units
        table = self._table(latest, ts)
        self._buffer, self._state, self._latest, self._last = buffer, state, latest, ts
        self.last_implausible = implausible
        self._warn_unknown(unknown, caller_depth + 1)
        return table

    def _warn_unknown(self, unknown: list[str], caller_depth: int) -> None:
        """Warn once per unknown VD id, remembering at most :data:`MAX_WARNED` of them (a flood of made-up
        ids must not grow the memory or the state file)."""
        new = [vd for vd in unknown if vd not in self._warned]
        if not new:
            return
        shown = ", ".join(vd[:40] for vd in new[:20])
        warnings.warn(
            f"readings of {len(new)} VD(s) the model does not know are ignored (the graph cannot place "
            f"them): {shown}{' ...' if len(new) > 20 else ''}",
            stacklevel=caller_depth,  # the warning names the caller's line
        )
        self._warned.update(new[: max(MAX_WARNED - len(self._warned), 0)])

    def _check_time(self, timestamp) -> pd.Timestamp:
        try:
            ts = pd.Timestamp(timestamp)
        except (TypeError, ValueError) as err:
            raise StreamError(f"tick timestamp {timestamp!r} is not a time: {err}") from None
        if ts.tzinfo is None:
            raise StreamError(f"tick timestamp {ts} has no time zone (give an offset, e.g. +00:00)")
        ts = ts.tz_convert("UTC")
        # The last target time must be a nanosecond timestamp, as the forecast tables store them (to 2262).
        if ts > pd.Timestamp.max.tz_localize("UTC") - self.freq * self.info.horizon:
            raise StreamError(f"tick {ts.isoformat()}: its forecasts would lie past the calendar's end (2262)")
        last = self._last
        if last is None:
            return ts
        if ts <= last:
            what = "duplicated" if ts == last else "late"
            raise StreamError(f"{what} tick: {ts.isoformat()} is not after the last tick {last.isoformat()}")
        if (ts - last) % self.freq != pd.Timedelta(0):
            raise StreamError(f"tick {ts.isoformat()} is off the {self.freq} grid of the last tick {last.isoformat()}")
        return ts

    def _times(self, ts: pd.Timestamp, steps: int) -> Tensor:
        """(steps, 4) time features of the ``steps`` grid times ending at ``ts``, as the datamodule's."""
        grid = pd.date_range(end=ts, periods=steps, freq=self.freq)
        return torch.from_numpy(time_features(grid, self.info.timezone))

    def _window_tick(self, ts: pd.Timestamp, x: Tensor, mask: Tensor, missed: int) -> tuple[Tensor, dict]:
        """The forecasts (H, N, O) and the new window; the current one is left as it is (copied on write)."""
        window = self.info.window
        buf = None if self._buffer is None else dict(self._buffer)
        if buf is None or missed >= window - 1:  # nothing of the old window is left: a fresh, all-missing one
            nodes, feats = x.shape
            buf = {
                "x": torch.zeros(window, nodes, feats),
                "mask": torch.zeros(window, nodes, feats, dtype=torch.bool),
                "time": self._times(ts, window),
            }
        else:  # shift by the missed ticks and this one (new tensors); the missed ones read as missing
            shift = missed + 1
            for key in ("x", "mask"):
                buf[key] = torch.cat([buf[key][shift:], torch.zeros_like(buf[key][:shift])])
            buf["time"] = torch.cat([buf["time"][shift:], self._times(ts, shift)])
        buf["x"][-1], buf["mask"][-1] = x, mask
        extra = {"quantiles": True} if self.levels else {}  # (H, N, O, Q) for a quantile model, else (H, N, O)
        return self.net(buf["x"][None], buf["mask"][None], buf["time"][None], **extra)[0], buf

    def _state_tick(self, ts: pd.Timestamp, x: Tensor, mask: Tensor, missed: int) -> tuple[Tensor, dict]:
        """The forecasts (H, N, O) and the new state (the network's step returns new tensors)."""
        state = self._state
        if missed > self.max_gap:
            state = None  # restart: the gap is longer than the rule fills
        elif missed > 0 and state is not None:
            times = self._times(ts, missed + 1)[:-1]  # (k, 4) the missed ticks' own times
            nodes, feats = x.shape
            empty = torch.zeros(1, missed, nodes, feats)
            _, state = self.net.forward_sequence(empty, empty.bool(), times[None], state)
        extra = {"quantiles": True} if self.levels else {}
        y, state = self.net.step(x[None], mask[None], self._times(ts, 1), state, **extra)
        return y[0], state  # (H, N, O), or (H, N, O, Q) for a quantile model

    def _table(self, pred: Tensor, ts: pd.Timestamp) -> pa.Table:
        quantiles, levels = None, ()
        if pred.dim() == 4:  # (H, N, O, Q): the median is the prediction, every level a q.. column
            quantiles, levels = pred[None].numpy(), self.levels
            pred = pred[..., self.levels.index(0.5)]
        return forecast_table(
            pred[None].numpy(), np.zeros(1, dtype=np.int64), pd.DatetimeIndex([ts]), self.info,
            quantiles=quantiles, levels=levels,
        )  # fmt: skip

    # -- restart without losing state -------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything a restarted process needs to continue identically: tensors and plain values only.

        ``torch.save`` it and read it back with ``torch.load(..., weights_only=True)``.
        """
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "mode": self.mode,
            "vd_ids": list(self.info.vd_ids),
            "variables": list(self.info.variables),
            "window": self.info.window,
            "max_gap": self.max_gap,
            "last_timestamp": None if self._last is None else self._last.isoformat(),
            "latest": None if self._latest is None else self._latest.clone(),
            "buffer": None if self._buffer is None else {k: v.clone() for k, v in self._buffer.items()},
            "state": None if self._state is None else {k: v.clone() for k, v in self._state.items()},
            "warned": sorted(self._warned),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output (of a forecaster of the same checkpoint and mode).

        Raises:
            UserError: not a streaming state, or one of another model (VDs, variables, window) or mode.
        """
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise UserError("not a StreamingForecaster state_dict")
        if state.get("version") != STATE_VERSION:
            raise UserError(f"streaming state version {state.get('version')}, this forecaster reads {STATE_VERSION}")
        mine = {"mode": self.mode, "vd_ids": self.vd_ids, "variables": self.variables, "window": self.window}
        wrong = [key for key, value in mine.items() if state.get(key) != value]
        if wrong:
            raise UserError(f"streaming state of another model or mode: {', '.join(wrong)} differ")
        self.max_gap = int(state["max_gap"])
        self._last = None if state["last_timestamp"] is None else pd.Timestamp(state["last_timestamp"])
        self._latest = state["latest"]
        self._buffer = state["buffer"]
        self._state = state["state"]
        self._warned = set(state["warned"])

    def __repr__(self) -> str:
        arch = getattr(getattr(self.net, "config", None), "arch", type(self.net).__name__)
        return (
            f"StreamingForecaster(arch={arch!r}, mode={self.mode!r}, vds={len(self.info.vd_ids)}, "
            f"window={self.window}, horizon={self.horizon}, freq={self.freq})"
        )
