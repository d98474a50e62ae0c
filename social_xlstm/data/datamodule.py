"""The Lightning datamodule: panel, scaler, graph, chronological split and window loaders in one place.

Everything is loaded in ``__init__`` so that :meth:`TrafficDataModule.info` works right after construction
(LightningCLI links it into the model's constructor). Windows belong to a split by their target steps
(see :mod:`social_xlstm.data.split`); the scaler is fitted on the observed training steps only.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch.utils.data import DataLoader

from social_xlstm.checkpoint import read_forecaster_checkpoint
from social_xlstm.data.alignment import (
    Alignment,
    align_graph,
    align_panel,
    align_vds,
    check_compatible,
    describe_alignment,
)
from social_xlstm.data.format.reader import load_dataset
from social_xlstm.data.graph import DEFAULT_MAX_NEIGHBOURS, Graph, graph_from_coordinates, graph_from_edges
from social_xlstm.data.holdout import draw_holdout, drop_reads_of, unread
from social_xlstm.data.info import DataInfo
from social_xlstm.data.panel import Panel, load_panel
from social_xlstm.data.sampling import NodeSampler
from social_xlstm.data.scaler import StandardScaler
from social_xlstm.data.sequence import SequenceDataset, sequence_starts
from social_xlstm.data.shards import ContiguousShardSampler
from social_xlstm.data.shuffle import EpochShuffle
from social_xlstm.data.split import chronological_split, window_starts
from social_xlstm.data.vd_masking import VDMasking
from social_xlstm.data.virtual import DEFAULT_MARGIN_KM, DEFAULT_REACH_KM, add_virtual_vds
from social_xlstm.data.windows import WindowArrays, WindowDataset
from social_xlstm.errors import DataError, UserError


def reference_info(path: str | Path) -> DataInfo:
    """The data facts (:class:`DataInfo`) a checkpoint carries (read as a file: no network is built)."""
    return DataInfo(**read_forecaster_checkpoint(path)["data_info"])


class TrafficDataModule(L.LightningDataModule):
    """Windows of a canonical dataset directory for training, validation, testing and prediction.

    Args:
        data_dir: canonical dataset directory (docs/data-format.md).
        variables: input variables in order; None = all variables of the dataset.
        targets: forecast variables (subset of ``variables``); None = all input variables.
        window: input steps W.
        horizon: forecast steps H.
        stride: step between training window starts, or sequence starts in ``sequence`` mode (val and test
            always use every window).
        split: train, val, test shares of the time axis; ``(0.8, 0.0, 0.2)`` is the T-GCN protocol.
        batch_size: training batch size.
        eval_batch_size: batch size of val/test/predict loaders; None = ``batch_size``.
        num_workers: DataLoader worker processes.
        max_neighbours: in-edges per VD, its self loop included: the ``max_neighbours - 1`` nearest VDs of a
            graph from coordinates, or the strongest in-edges of ``edges.parquet`` (by weight, else by
            distance; see :mod:`social_xlstm.data.graph`); None keeps every edge of ``edges.parquet``.
        graph_radius_km: optional radius limit for the graph from coordinates.
        max_train_windows: draw this many random training windows per epoch (quick runs); None = all.
        node_sample: train each batch on this many randomly drawn target VDs and the neighbours they read
            (networks of thousands of VDs; see :mod:`social_xlstm.data.sampling`); None = every VD.
            Validation, test and prediction always forecast every VD.
        mask_vds: hide each VD's whole input window with this probability in training batches (its targets
            stay), so the model learns to forecast a VD from its neighbours (:mod:`social_xlstm.data.vd_masking`).
        holdout_vds: hide these VDs completely (a share in (0, 1), or a list of VD ids): no input, no
            training target, nothing reads them; the test scores forecasts at them alone, against the
            neighbours' inverse-distance baselines (:mod:`social_xlstm.data.holdout`). None: every VD observed.
        holdout_seed: the seed that draws a share of held-out VDs (independent of the run's seed).
        virtual_points: a CSV of places without a detector (``vd_id, lat, lon``) to forecast as virtual VDs
            with a trained model (``predict --at``; needs ``reference``; :mod:`social_xlstm.data.virtual`).
        virtual_edges: the virtual VDs' in-edges (``vd_id, neighbour`` and the network's edge columns;
            ``predict --at-edges``), needed when the network is an edge list.
        virtual_margin_km: how far outside the detectors' bounding box a point may lie.
        virtual_reach_km: the farthest a point's nearest detector may be.
        mode: ``window`` (train on windows of W steps) or ``sequence`` (long-context: train on sequences of
            ``sequence_length`` steps scored at every step; val/test/predict keep the windows, which the
            model runs through continuously; see :mod:`social_xlstm.data.sequence`).
        sequence_length: training sequence length L in ``sequence`` mode (>= ``window``).
        reference: a trained model's checkpoint whose data facts decide (docs/new-data.md): the dataset is
            aligned to its network (VDs matched by id; absent ones all missing, added ones placed by the
            graph), scaled with its scaler, and must have its variables, units, interval, window and horizon.
            ``test``, ``predict`` and ``evaluate`` set it from ``--ckpt_path``; None fits the scaler here.

    Attributes:
        panel: the loaded :class:`Panel` (original units, NaN where missing).
        scaler: the :class:`StandardScaler` fitted on observed training values.
        graph: the :class:`Graph`.
        split_ranges: ``{"train"|"val"|"test": (start, stop)}`` on the panel's time axis.

    An empty validation part (T-GCN protocol) gives ``val_dataloader() == []``; the caller decides whether
    to validate on something else.
    """

    def __init__(
        self,
        data_dir: str,
        variables: list[str] | None = None,
        targets: list[str] | None = None,
        window: int = 12,
        horizon: int = 12,
        stride: int = 1,
        split: tuple[float, float, float] = (0.7, 0.1, 0.2),
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        max_neighbours: int | None = DEFAULT_MAX_NEIGHBOURS,
        graph_radius_km: float | None = None,
        max_train_windows: int | None = None,
        node_sample: int | None = None,
        mask_vds: float = 0.0,
        holdout_vds: float | list[str] | None = None,
        holdout_seed: int = 0,
        virtual_points: str | None = None,
        virtual_edges: str | None = None,
        virtual_margin_km: float = DEFAULT_MARGIN_KM,
        virtual_reach_km: float = DEFAULT_REACH_KM,
        mode: str = "window",
        sequence_length: int = 288,
        reference: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if batch_size < 1 or (eval_batch_size is not None and eval_batch_size < 1):
            raise UserError(f"batch_size ({batch_size}) and eval_batch_size ({eval_batch_size}) must be >= 1")
        if node_sample is not None and node_sample < 1:
            raise UserError(f"node_sample must be >= 1 or None, got {node_sample}")
        if max_train_windows is not None and max_train_windows < 1:
            raise UserError(f"max_train_windows must be >= 1 or None, got {max_train_windows}")
        if mode not in ("window", "sequence"):
            raise UserError(f"unknown data mode {mode!r}; valid: window, sequence")
        if mode == "sequence" and holdout_vds is not None:
            raise UserError("data.holdout_vds is not supported with data mode 'sequence' (use mode window)")
        if mode == "sequence" and node_sample is not None:
            raise UserError("node_sample is not supported with data mode 'sequence' (set it to null)")
        self.mode, self.sequence_length = mode, sequence_length
        self.data_dir = Path(data_dir)
        self.window, self.horizon, self.stride = window, horizon, stride
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.max_train_windows = max_train_windows
        self.node_sample = node_sample
        if not 0.0 <= mask_vds < 1.0:
            raise UserError(f"data.mask_vds must be in [0, 1), got {mask_vds}")
        self.mask_vds = mask_vds
        # The training order is a function of this seed and the epoch (data/shuffle.py); seed_everything has
        # run by now, so it is the run's seed.
        self.shuffle_seed = torch.initial_seed() % 2**31
        self._resume: dict | None = None

        dataset = load_dataset(self.data_dir, check_rows=False)
        if (virtual_points or virtual_edges) and reference is None:
            raise UserError(
                "virtual VDs (--at / --at-edges) are forecast by a trained model: give its checkpoint "
                "(predict --ckpt_path CKPT, or data.reference)"
            )
        dataset, self.virtual_vds = add_virtual_vds(
            dataset, virtual_points, virtual_edges, virtual_margin_km, virtual_reach_km
        )
        self.dataset = dataset
        self.reference: DataInfo | None = None if reference is None else reference_info(reference)
        if self.reference is not None:
            check_compatible(
                self.reference,
                dataset.meta,
                self.data_dir,
                window=window,
                horizon=horizon,
                variables=variables,
                targets=targets,
            )
            variables, targets = self.reference.variables, self.reference.targets
        self.panel: Panel = load_panel(dataset, variables)
        self.targets = list(self.panel.variables if targets is None else targets)
        self.panel.variable_index(self.targets)  # raises on unknown names

        self.split_ranges = chronological_split(self.panel.num_steps, split)
        train_lo, train_hi = self.split_ranges["train"]
        if dataset.edges is not None:
            self.graph: Graph = graph_from_edges(dataset.stations, dataset.edges, max_neighbours)
        else:
            self.graph = graph_from_coordinates(dataset.stations, max_neighbours, radius_km=graph_radius_km)
        self.alignment: Alignment | None = None
        if self.reference is not None:
            self.alignment = align_vds(self.reference.vd_ids, self.panel.vd_ids)
            self.graph = align_graph(self.reference, self.alignment, self.graph, self.panel.vd_ids)
            self.panel = align_panel(self.panel, self.alignment)
            rank_zero_info(describe_alignment(self.alignment, reference))
        # held out: drawn over the network forecast on (after alignment), so a test with the training
        # config hides the VDs its training hid
        self.hidden = draw_holdout(self.panel.vd_ids, holdout_vds, holdout_seed)  # (N,) bool
        observed_steps = self.panel.mask[train_lo:train_hi]
        if self.hidden.any():
            observed_steps = observed_steps & ~self.hidden[:, None]
        if self.reference is not None:  # never refitted on the data to forecast
            self.scaler = StandardScaler(self.reference.mean, self.reference.std)
        else:
            self.scaler = StandardScaler().fit(
                self.panel.values[train_lo:train_hi], observed_steps, self.panel.variables
            )
        if self.hidden.any():
            if self.reference is None:  # training: nothing reads a held-out VD (a checkpoint's graph is kept)
                self.graph = drop_reads_of(self.graph, self.hidden)
            lonely = unread(self.graph, self.hidden)
            if lonely:
                rank_zero_warn(
                    f"data.holdout_vds: {len(lonely)} held-out VD(s) read no observed VD in the graph, so "
                    f"only the calendar forecasts them: {[self.panel.vd_ids[i] for i in lonely[:5]]}"
                )
            if self.reference is None and mask_vds == 0:
                # nothing reads a held-out VD and it has no target: without masking, the path a VD with no
                # detector takes (the fallback row, reading neighbours alone) never gets a gradient
                rank_zero_warn(
                    "data.holdout_vds without data.mask_vds: no training batch asks for a VD from its "
                    "neighbours alone, so the held-out VDs are forecast by an untrained path; set "
                    "data.mask_vds (e.g. 0.25; docs/virtual-vds.md)"
                )
            rank_zero_info(
                f"data.holdout_vds: {int(self.hidden.sum())} of {len(self.hidden)} VDs held out "
                f"(no input, no training target; the test scores them alone)"
            )

        hidden = torch.from_numpy(self.hidden)
        observed = ~hidden if self.hidden.any() else None
        self.arrays = WindowArrays.from_panel(self.panel, self.scaler, self.targets)
        self.arrays.observed_vds = observed
        self.datasets = {
            name: WindowDataset(
                self.arrays,
                window,
                horizon,
                window_starts(rng, window, horizon, stride if name == "train" else 1),
                scored_vds=(hidden if name == "test" else observed) if observed is not None else None,
            )
            for name, rng in self.split_ranges.items()
        }
        if mode == "sequence":
            train_range = self.split_ranges["train"]
            self.datasets["train"] = SequenceDataset(
                self.arrays,
                sequence_length,
                horizon,
                sequence_starts(train_range, sequence_length, stride),
                warmup=window,
                target_stop=train_range[1],
            )
            if len(self.datasets["train"]) == 0:
                raise DataError(
                    f"{self.data_dir}: the training part {train_range} is shorter than one sequence of "
                    f"sequence_length={sequence_length} steps"
                )
        if len(self.datasets["train"]) == 0 and self.reference is None:
            raise DataError(
                f"{self.data_dir}: the training part {self.split_ranges['train']} of "
                f"{self.panel.num_steps} steps holds no window of W={window} + H={horizon} steps"
            )
        if len(self.datasets["test"]) == 0:
            raise DataError(
                f"{self.data_dir}: the test part {self.split_ranges['test']} of "
                f"{self.panel.num_steps} steps holds no window of H={horizon} target steps"
            )

    def info(self) -> DataInfo:
        """Facts the model and the checkpoint need (see :class:`DataInfo`)."""
        return DataInfo(
            vd_ids=list(self.panel.vd_ids),
            variables=list(self.panel.variables),
            targets=list(self.targets),
            mean=self.scaler.mean.tolist(),
            std=self.scaler.std.tolist(),
            edge_index=self.graph.edge_index_array.T.tolist(),
            edge_attr=self.graph.edge_attr_array.tolist(),
            edge_attr_names=list(self.graph.edge_attr_names),
            freq_minutes=self.panel.freq.minutes,
            window=self.window,
            horizon=self.horizon,
            timezone=self.panel.timezone,
            units={var: str(self.dataset.meta.variables[var]) for var in self.panel.variables},
            absent_vds=[] if self.alignment is None else list(self.alignment.absent),
            holdout_vds=[vd for vd, h in zip(self.panel.vd_ids, self.hidden, strict=True) if h],
            virtual_vds=list(self.virtual_vds),
            edge_attr_stats=self._trained_edge_stats(),
            mode=self.mode,
            sequence_length=self.sequence_length if self.mode == "sequence" else None,
        )

    def _trained_edge_stats(self) -> list[list[float]] | None:
        """The checkpoint's edge-feature statistics when its network gained edges here (added VDs)."""
        if self.reference is None or self.graph.num_edges == len(self.reference.edge_index):
            return None
        if self.reference.edge_attr_stats is not None:
            return self.reference.edge_attr_stats
        # as social_xlstm.nn.common.edge_attr_stats: per column, the mean and the biased std
        trained = np.asarray(self.reference.edge_attr, dtype=np.float32).reshape(len(self.reference.edge_index), -1)
        return [trained.mean(0).tolist(), trained.std(0).tolist()]

    def _loader(self, dataset: WindowDataset, batch_size: int, **kwargs) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            **kwargs,
        )

    def train_dataloader(self) -> DataLoader:
        data = self.datasets["train"]
        extra = {}
        if self.node_sample is not None and self.node_sample < self.panel.num_vds:
            extra["collate_fn"] = NodeSampler(self.graph.edge_index_array, self.panel.num_vds, self.node_sample)
        if self.mask_vds > 0:
            extra["collate_fn"] = VDMasking(self.mask_vds, extra.get("collate_fn"))
        # max_train_windows: a fresh random subset every epoch (the first windows of the epoch's permutation).
        sampler = EpochShuffle(len(data), self.shuffle_seed, self.max_train_windows)
        self._apply_resume(sampler)
        # The loader's own generator: iterating it leaves the global generator (dropout, node sampling) alone,
        # so a resumed run draws the same numbers as the uninterrupted one.
        generator = torch.Generator().manual_seed(self.shuffle_seed)
        return self._loader(data, self.batch_size, sampler=sampler, drop_last=False, generator=generator, **extra)

    def state_dict(self) -> dict:
        """Where training is in the epoch's order (saved in every checkpoint, read back by ``fit --ckpt_path``)."""
        trainer = self.trainer
        if trainer is None:
            return {}
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        return {
            "shuffle_seed": self.shuffle_seed,
            "epoch": trainer.current_epoch,
            "batches_done": done,
            "batch_size": self.batch_size,
            "world_size": trainer.world_size,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        if state_dict:
            self.shuffle_seed = int(state_dict["shuffle_seed"])
            self._resume = dict(state_dict)

    def _apply_resume(self, sampler: EpochShuffle) -> None:
        state, self._resume = self._resume, None
        if state is None:
            return
        skip = state["batches_done"] * state["batch_size"]
        mid_epoch = 0 < skip < sampler.num_samples
        if mid_epoch and (state["world_size"] != 1 or state["batch_size"] != self.batch_size):
            # Under DDP Lightning shards this order after it is drawn; skipping inside it would shift
            # every rank's share. The epoch restarts from its first batches instead.
            rank_zero_warn(
                f"resuming in the middle of epoch {state['epoch']} with world_size={state['world_size']}, "
                f"batch_size={state['batch_size']}: the epoch's order restarts from its beginning "
                "(exact mid-epoch resume needs one process and the same batch size)"
            )
            skip = 0
        sampler.resume(state["epoch"], skip)

    def val_dataloader(self) -> DataLoader | list:
        """The validation loader, or ``[]`` when the split has no validation part."""
        data = self.datasets["val"]
        if len(data) == 0:
            return []
        return self._eval_loader(data)

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader(self.datasets["test"])

    def _eval_loader(self, data: WindowDataset) -> DataLoader:
        # Under DDP each rank takes one contiguous block of windows, none twice (social_xlstm/data/shards.py):
        # Lightning's default DistributedSampler pads with repeated windows, which the summed metrics would
        # count twice.
        trainer = self.trainer
        if trainer is None or trainer.world_size < 2:
            return self._loader(data, self.eval_batch_size, shuffle=False, drop_last=False)
        if len(data) < trainer.world_size:
            raise DataError(f"{self.data_dir}: {len(data)} evaluation windows for {trainer.world_size} DDP ranks")
        sampler = ContiguousShardSampler(data, num_replicas=trainer.world_size, rank=trainer.global_rank)
        return self._loader(data, self.eval_batch_size, sampler=sampler, drop_last=False)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()
