"""Social mLSTM op: a neighbour-reading matrix memory, parallel (training) and recurrent (streaming) forms."""

from .reference import (
    MLSTMState,
    social_mlstm_final_state,
    social_mlstm_parallel,
    social_mlstm_recurrent,
    social_mlstm_step,
)

__all__ = [
    "MLSTMState",
    "social_mlstm_final_state",
    "social_mlstm_parallel",
    "social_mlstm_recurrent",
    "social_mlstm_step",
]
