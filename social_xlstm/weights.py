"""Trained weights into a module built for an aligned network (docs/new-data.md, data/alignment.py).

A checkpoint's ``state_dict`` fits a module built from the checkpoint's own ``data_info``. A module built
for new data aligned to that checkpoint (:mod:`social_xlstm.data.alignment`) differs in two ways only:

* added VDs: its VD embedding table has a row per network VD; an added VD's row is the trained fallback
  row (the one the embedding keeps for unseen VDs), the checkpoint's VDs keep theirs;
* its graph buffers (neighbour tables, edge lists) describe the aligned network: they are the module's
  own, built from the aligned graph, not the checkpoint's. Learned sources (``social.graph``) are the
  exception: they were trained, so the checkpoint's are kept, and an added VD learns none. Every other
  buffer is a function of the config and the data facts, which alignment takes from the checkpoint, so
  the module's own equal them.

Anything else (another network, another scaler) is refused: a model must not be fed data it was not
aligned to, which is how a 60-VD network with different ids used to be silently relabelled.
"""

from __future__ import annotations

from dataclasses import asdict

import torch
from torch import nn

from social_xlstm.data.info import DataInfo
from social_xlstm.errors import UserError

EMBEDDING_ENTRY = "embedding.vd_table.weight"
"""The VD embedding table's entry in a bare network's state_dict: (N + 1, vd_dim), row N the fallback."""
EMBEDDING_KEY = "net." + EMBEDDING_ENTRY
"""The same table's entry in a ForecastModule's state_dict (its network sits under ``net.``)."""


def _same_except_network(trained: DataInfo, info: DataInfo) -> list[str]:
    """What differs between the checkpoint's facts and the module's beyond the alignment may change."""
    differs = [
        key
        for key in ("variables", "targets", "mean", "std", "edge_attr_names", "freq_minutes", "window", "horizon")
        if getattr(trained, key) != getattr(info, key)
    ]
    n, e = trained.num_vds, len(trained.edge_index)
    if info.vd_ids[:n] != trained.vd_ids:
        differs.append("vd_ids (the checkpoint's VDs must come first, in its order)")
    if info.edge_index[:e] != trained.edge_index:
        differs.append("edge_index (the checkpoint's edges must come first)")
    return differs


def fit_trained_weights(
    module: nn.Module, state: dict[str, torch.Tensor], trained: dict | DataInfo, info: DataInfo, prefix: str = "net."
) -> dict:
    """The checkpoint's ``state`` made to fit ``module``, or ``state`` itself when it fits.

    Args:
        module: the module to load into: training's ForecastModule (``prefix="net."``), or a bare network
            built by :func:`social_xlstm.network.build_network` (``prefix=""``, the forecasting side).
        state: the checkpoint's ``state_dict``, its keys as ``module.state_dict()`` names them.
        trained: the checkpoint's ``data_info``.
        info: the (possibly aligned) facts ``module`` was built for.
        prefix: where the network's entries sit in ``state``.

    Raises:
        UserError: the module was built for data not aligned to this checkpoint.
    """
    trained = trained if isinstance(trained, DataInfo) else DataInfo(**trained)
    if asdict(trained) | {"absent_vds": [], "units": {}} == asdict(info) | {"absent_vds": [], "units": {}}:
        return state
    differs = _same_except_network(trained, info)
    if differs:
        raise UserError(
            f"the checkpoint was trained on other data than the model was built for ({', '.join(differs)} "
            "differ); align the data to it with data.reference=<checkpoint> (test, predict and evaluate "
            "do so with --ckpt_path)"
        )
    state = dict(state)
    added = info.num_vds - trained.num_vds
    if added:
        key = prefix + EMBEDDING_ENTRY
        if key not in state:
            raise UserError("this model has no VD embedding to place VDs it never saw (a library model?)")
        table = state[key]  # (N + 1, vd_dim), row N the fallback
        fallback = table[trained.num_vds : trained.num_vds + 1]  # (1, vd_dim)
        state[key] = torch.cat([table[:-1], fallback.expand(added, -1), fallback])  # (N' + 1, vd_dim)
    learned = _fit_learned_sources(module, state, trained.num_vds)
    own = module.state_dict()
    for name, _ in module.named_buffers():
        # persistent buffers: graph tables of the aligned network, scaler, target index
        if name in state and name not in learned:
            state[name] = own[name]
    return state


def _fit_learned_sources(module: nn.Module, state: dict[str, torch.Tensor], trained: int) -> set[str]:
    """Pad the learned-source entries of ``state`` for added VDs; their buffer names (kept from ``state``)."""
    from social_xlstm.nn.fusion.learned_graph import LearnedSources

    kept = set()
    for prefix, sub in module.named_modules():
        if isinstance(sub, LearnedSources):
            if sub.num_nodes > trained:
                sub.fit_added_vds(state, prefix + ".", trained)
            kept.add(prefix + ".learned_src")
    return kept
