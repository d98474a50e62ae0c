"""Social mLSTM ops: neighbour-reading matrix memories, parallel (training) and recurrent (streaming) forms.

``reference.py`` -- the target-memory form (each VD's memory holds its neighbours' keys and values);
``source_memory.py`` -- the source-memory form (each VD's own memory, read by its neighbours).
"""

from .reference import (
    MLSTMState,
    social_mlstm_final_state,
    social_mlstm_parallel,
    social_mlstm_recurrent,
    social_mlstm_step,
)
from .source_memory import SourceMemory, read_neighbour_memories, source_memory_parallel, source_memory_step

__all__ = [
    "MLSTMState",
    "SourceMemory",
    "read_neighbour_memories",
    "source_memory_parallel",
    "source_memory_step",
    "social_mlstm_final_state",
    "social_mlstm_parallel",
    "social_mlstm_recurrent",
    "social_mlstm_step",
]
