"""Chronological split ranges, window membership by target steps, and the train-only masked scaler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from social_xlstm.data.scaler import StandardScaler
from social_xlstm.data.split import chronological_split, window_starts
from social_xlstm.errors import DataError, UserError


def test_default_split_ranges():
    assert chronological_split(100) == {"train": (0, 70), "val": (70, 80), "test": (80, 100)}


def test_tgcn_protocol_has_empty_val():
    ranges = chronological_split(2016, (0.8, 0.0, 0.2))
    assert ranges == {"train": (0, 1613), "val": (1613, 1613), "test": (1613, 2016)}
    assert len(window_starts(ranges["val"], 12, 12)) == 0


@pytest.mark.parametrize("fractions", [(0.5, 0.5, 0.5), (1.2, -0.1, -0.1), (0.7, 0.3)])
def test_bad_fractions(fractions):
    with pytest.raises(UserError, match="split fractions"):
        chronological_split(100, fractions)


def test_window_starts_hand_values():
    np.testing.assert_array_equal(window_starts((0, 70), 12, 3), np.arange(0, 56))
    # val windows: first target step 70 -> start 58; last target 79 -> start 65
    np.testing.assert_array_equal(window_starts((70, 80), 12, 3), np.arange(58, 66))
    np.testing.assert_array_equal(window_starts((70, 80), 12, 3, stride=3), [58, 61, 64])
    assert len(window_starts((0, 10), 8, 3)) == 0
    with pytest.raises(UserError):
        window_starts((0, 10), 0, 3)


@pytest.mark.parametrize("window,horizon", [(1, 1), (3, 2), (12, 12)])
def test_windows_belong_by_target_steps(window, horizon):
    num_steps = 97
    ranges = chronological_split(num_steps)
    for lo, hi in ranges.values():
        brute = [
            s
            for s in range(num_steps - window - horizon + 1)
            if lo <= s + window and s + window + horizon <= hi
        ]
        np.testing.assert_array_equal(window_starts((lo, hi), window, horizon), brute)
    # every test target step is forecast at every horizon step by exactly one window
    starts = window_starts(ranges["test"], window, horizon)
    lo, hi = ranges["test"]
    for h in range(horizon):
        targets = starts + window + h
        assert targets.min() == lo + h and targets.max() == hi - horizon + h


# values (T=4, N=2, F=2); the mask hides some cells, whose values must not count
VALUES = np.array(
    [
        [[1.0, 10.0], [3.0, 5.0]],
        [[999.0, 5.0], [5.0, 5.0]],
        [[7.0, 5.0], [-999.0, 5.0]],
        [[100.0, 100.0], [100.0, 100.0]],
    ],
    dtype=np.float32,
)
MASK = np.array(
    [
        [[True, True], [True, True]],
        [[False, True], [True, True]],
        [[True, True], [False, True]],
        [[True, True], [True, True]],
    ]
)


def test_scaler_fits_observed_training_values_only():
    scaler = StandardScaler().fit(VALUES[:3], MASK[:3])  # step 3 is "test"
    # flow observed in train: 1, 3, 5, 7 -> mean 4, population std sqrt(5)
    # speed: 10, 5, 5, 5, 5, 5 -> mean 35/6, std sqrt(mean((x - 35/6)^2))
    speed = np.array([10, 5, 5, 5, 5, 5.0])
    np.testing.assert_allclose(scaler.mean, [4.0, speed.mean()])
    np.testing.assert_allclose(scaler.std, [np.sqrt(5.0), speed.std()])
    changed = VALUES.copy()
    changed[3] = 1e6
    again = StandardScaler().fit(changed[:3], MASK[:3])
    np.testing.assert_array_equal(again.mean, scaler.mean)


def test_constant_column_gets_unit_std():
    values = np.full((5, 3, 2), 7.0, dtype=np.float32)
    values[:, :, 1] = np.arange(15).reshape(5, 3)
    scaler = StandardScaler().fit(values, np.ones_like(values, dtype=bool))
    assert scaler.std[0] == 1.0 and scaler.mean[0] == 7.0
    out = scaler.transform(values)
    assert np.isfinite(out).all() and (out[:, :, 0] == 0).all()


def test_transform_roundtrip_numpy_and_torch():
    scaler = StandardScaler([4.0, 10.0], [2.0, 5.0])
    x = np.array([[6.0, 0.0], [4.0, 20.0]], dtype=np.float32)
    z = scaler.transform(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z, [[1.0, -2.0], [0.0, 2.0]])
    np.testing.assert_allclose(scaler.inverse_transform(z), x)
    zt = scaler.transform(torch.from_numpy(x))
    assert isinstance(zt, torch.Tensor) and zt.dtype == torch.float32
    torch.testing.assert_close(zt, torch.from_numpy(z))
    torch.testing.assert_close(scaler.inverse_transform(zt), torch.from_numpy(x))
    # a subset of variables (e.g. the targets)
    np.testing.assert_allclose(scaler.inverse_transform(np.array([[1.0]]), index=[1]), [[15.0]])
    restored = StandardScaler.from_state_dict(scaler.state_dict())
    np.testing.assert_array_equal(restored.mean, scaler.mean)


def test_no_observed_training_value_raises():
    mask = MASK.copy()
    mask[:, :, 1] = False
    with pytest.raises(DataError, match=r"\['speed'\] have no observed value in the training split"):
        StandardScaler().fit(VALUES, mask, ["flow", "speed"])
