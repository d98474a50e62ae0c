"""One tick's readings (a DataFrame of ``vd_id`` + variables) as the model's scaled input row.

The rules (docs/streaming.md): VDs are matched by ``vd_id`` in any order; a VD of the model absent from
the tick is missing; a VD the model does not know is ignored (the graph cannot place it; the caller warns);
NaN or None is missing; columns other than ``vd_id`` and the model's variables are ignored; a variable
column that is absent is missing for every VD. A tick that cannot be read (no ``vd_id`` column, a VD twice,
a value that is not a number or is infinite) raises :class:`StreamError`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from social_xlstm.errors import UserError


class StreamError(UserError):
    """A tick the forecaster cannot take: late, duplicated, off the time grid or malformed."""


FLOAT32_MAX = float(np.finfo(np.float32).max)


def tick_arrays(
    readings: pd.DataFrame,
    vd_index: pd.Index,
    variables: list[str],
    mean: torch.Tensor,
    std: torch.Tensor,
    ranges: list[tuple[float, float] | None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[str], dict[str, int]]:
    """Scale one tick's readings into the model's VD and variable order.

    Args:
        readings: one row per VD: ``vd_id`` and any of ``variables``.
        vd_index: the model's VD ids (N), in panel order.
        variables: the model's input variables (F), in feature order.
        mean, std: (F,) float32 scaler of the checkpoint.
        ranges: per variable, the (lowest, highest) plausible reading of its unit, or None where the unit
            is outside the vocabulary; a reading outside is read as missing. Whatever the unit, a value
            beyond float32's range is missing (it would be infinite inside the model).

    Returns:
        x (N, F) float32 scaled, 0 where missing (as the datamodule's windows); mask (N, F) bool, True
        where observed; the sorted ids of the VDs the model does not know; variable -> the number of its
        readings read as missing for being implausible (variables with none left out).

    Raises:
        StreamError: no ``vd_id`` column, a VD listed twice, a non-numeric or infinite value.
    """
    if not isinstance(readings, pd.DataFrame) or "vd_id" not in readings.columns:
        raise StreamError("readings must be a DataFrame with a vd_id column and the model's variables")
    ids = readings["vd_id"].astype(str).to_numpy()
    repeated = pd.Index(ids)[pd.Index(ids).duplicated()].unique()
    if len(repeated):
        raise StreamError(f"readings list VDs more than once: {', '.join(map(str, repeated[:10]))}")
    rows = vd_index.get_indexer(ids)  # (R,) position in the model's VDs, -1 if unknown
    known = rows >= 0
    values = np.full((len(vd_index), len(variables)), np.nan, dtype=np.float32)  # (N, F) NaN = missing
    implausible: dict[str, int] = {}
    for f, name in enumerate(variables):
        if name not in readings.columns:
            continue
        try:
            column = pd.to_numeric(readings[name], errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as err:
            raise StreamError(f"readings column {name!r} holds values that are not numbers: {err}") from None
        if np.isinf(column).any():
            bad = ids[np.isinf(column)][:5]
            raise StreamError(f"readings column {name!r} is infinite for VDs {', '.join(bad)}")
        lowest, highest = (ranges[f] if ranges and ranges[f] else (-FLOAT32_MAX, FLOAT32_MAX))
        outside = known & ((column < lowest) | (column > highest) | (np.abs(column) > FLOAT32_MAX))
        if outside.any():
            implausible[name] = int(outside.sum())
            column = np.where(outside, np.nan, column)
        values[rows[known], f] = column[known]
    values_t = torch.from_numpy(values)
    mask = ~torch.isnan(values_t)  # (N, F)
    x = torch.where(mask, (values_t - mean) / std, 0.0)  # (N, F) the datamodule's scaling, in float32
    return x, mask, sorted(set(ids[~known].tolist())), implausible
