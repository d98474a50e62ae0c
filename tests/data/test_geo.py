"""Haversine distance against a scalar brute force and hand-computed values; bearings on the compass."""

from __future__ import annotations

import math

import numpy as np
import pytest

from social_xlstm.data.format.geo import EARTH_RADIUS_M, bearing_rad, haversine_m


def _brute_haversine_m(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def test_haversine_matches_brute_force():
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(59.8, 60.4, 30), rng.uniform(24.5, 25.5, 30)
    d = haversine_m(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    for i in range(0, 30, 7):
        for j in range(30):
            assert d[i, j] == pytest.approx(_brute_haversine_m(lat[i], lon[i], lat[j], lon[j]), rel=1e-12, abs=1e-6)
    # one degree of longitude on the equator, and a much shorter one at 60 degrees north (the cos(lat) factor)
    assert haversine_m(0, 0, 0, 1) == pytest.approx(EARTH_RADIUS_M * math.pi / 180)
    assert haversine_m(60, 0, 60, 1) == pytest.approx(EARTH_RADIUS_M * math.pi / 180 * 0.5, abs=10)


def test_haversine_one_degree_latitude():
    # one degree of latitude on a sphere of radius 6371008.8 m is 2*pi*R/360
    got = haversine_m(np.array([0.0]), np.array([0.0]), np.array([1.0]), np.array([0.0]))
    assert got[0] == pytest.approx(2 * np.pi * 6_371_008.8 / 360, rel=1e-9)
    # at 60 degrees north one degree of longitude is about half as long (the cos(latitude) factor)
    east = haversine_m(np.array([60.0]), np.array([0.0]), np.array([60.0]), np.array([1.0]))
    assert east[0] == pytest.approx(111_194.9 * 0.5, rel=2e-3)


def test_bearing_points_of_the_compass():
    np.testing.assert_allclose(bearing_rad(0.0, 0.0, 1.0, 0.0), 0.0, atol=1e-12)  # north
    np.testing.assert_allclose(bearing_rad(0.0, 0.0, 0.0, 1.0), math.pi / 2, atol=1e-12)  # east
    np.testing.assert_allclose(bearing_rad(0.0, 0.0, -1.0, 0.0), math.pi, atol=1e-12)  # south
