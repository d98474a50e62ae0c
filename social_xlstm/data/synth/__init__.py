"""Simulated freeway network with vehicle detectors (``social-xlstm synth``).

A cell transmission model on a few radial freeways around Taipei, with ramps, junctions, lane drops,
weekday/weekend demand peaks, incidents, detector noise and missing readings, written as a canonical
dataset. Modules: ``network`` (layout and VD placement), ``ctm`` (the traffic model), ``demand``
(profiles and incidents), ``sensors`` (noise and gaps), ``simulate`` (the pipeline and the command).
"""

from __future__ import annotations

from social_xlstm.data.synth.ctm import CellTransmissionModel, FundamentalDiagram
from social_xlstm.data.synth.demand import Incident
from social_xlstm.data.synth.sensors import SensorConfig
from social_xlstm.data.synth.simulate import DayTruth, Simulator, add_arguments, run, simulate

__all__ = [
    "CellTransmissionModel",
    "DayTruth",
    "FundamentalDiagram",
    "Incident",
    "SensorConfig",
    "Simulator",
    "add_arguments",
    "run",
    "simulate",
]
