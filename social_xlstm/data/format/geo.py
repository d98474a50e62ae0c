"""Distances and bearings between WGS84 points, on a sphere of the Earth's mean radius.

One copy for the importers (edge distances in metres when a source gives none) and the graph code
(k nearest VDs, bearing features). Haversine rather than a flat ``dx = dlon * 111 km``: a degree of
longitude shrinks with ``cos(latitude)`` (half as long at 60 degrees north).
"""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG, ``(2a + b) / 3`` of WGS84); a spherical distance is within 0.5 % of the
ellipsoidal one, far below the spacing of detectors."""


def haversine_m(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in metres between points given in degrees (numpy broadcasting)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def bearing_rad(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Initial bearing from point 1 to point 2, radians clockwise from north (numpy broadcasting)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    return np.arctan2(np.sin(dlmb) * np.cos(p2), np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dlmb))
