"""The accuracy benchmark: every model trained and scored by the same harness, results as Markdown, JSON, PNG.

``scripts/benchmark_accuracy.py`` is the command line over :func:`run_benchmark`. Each learned model runs
through :class:`~social_xlstm.experiment.Experiment` with one config, so every model sees the same data
module, split, scaler, windows and masked metrics; only ``model.arch`` (and the seed) changes. The
non-learned baselines are scored once on the same test windows (they do not depend on a seed).

Each (model, seed) run stores its result in ``WORK/<model>/seed<S>/result.json`` with the settings it
ran under; a later call with the same settings reads it instead of training again (resume), a call with
other settings trains again. The summary (mean and spread over seeds) is rebuilt from those files every
time and written (by :mod:`social_xlstm.bench.report`) to ``OUT/<dataset>.md``, ``OUT/<dataset>.json``
and ``OUT/<dataset>_<variable>.png``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from social_xlstm.atomic import write_json_atomic
from social_xlstm.bench.report import write_outputs
from social_xlstm.bench.summary import summarise
from social_xlstm.errors import UserError
from social_xlstm.forecast.baselines import BASELINES
from social_xlstm.nn.registry import ALL_ARCHS, LIBRARY_MODELS

EARLY_STOPPING = "lightning.pytorch.callbacks.EarlyStopping"
"""Lead times of the tables; the 12-step average is the column ``avg``."""


@dataclass(frozen=True)
class Protocol:
    """Window, horizon and chronological split of an evaluation protocol, read from its bench config.

    A protocol is a config file, ``configs/bench_<name>.yaml``: its ``data.window``, ``data.horizon`` and
    ``data.split`` are the protocol (the YAML is the one place these numbers are chosen) and its leading
    comment describes it.
    """

    name: str
    window: int
    horizon: int
    split: tuple[float, float, float]
    description: str

    @classmethod
    def from_config(cls, name: str, path: str | Path) -> Protocol:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: config not found (the {name!r} protocol's config)")
        text = path.read_text()
        data = (yaml.safe_load(text) or {}).get("data") or {}
        missing = [key for key in ("window", "horizon", "split") if data.get(key) is None]
        if missing:
            raise UserError(f"{path}: a bench config states its protocol; data.{', data.'.join(missing)} missing")
        comment = []
        for line in text.splitlines():
            if not line.startswith("#"):
                break
            comment.append(line.lstrip("#").strip())
        return cls(name, int(data["window"]), int(data["horizon"]), tuple(data["split"]), " ".join(comment))


def protocol_config(protocol: str) -> str:
    """The config that defines ``protocol`` (``configs/bench_<protocol>.yaml``, from the repository root)."""
    return f"configs/bench_{protocol}.yaml"


@dataclass
class BenchmarkSettings:
    """What a benchmark run trains and where it writes.

    Args:
        dataset: canonical dataset directory.
        protocol: the protocol's name (the tables and the result files say it).
        config: training config (YAML); its window, horizon and split are the protocol
            (:class:`Protocol`).
        models: baselines (``persistence``, ``historical_average``) and archs, in table order.
        seeds: training seeds.
        seeds_for: per-model seeds replacing ``seeds`` for the models named (a model too slow for all of
            them on the machine at hand); the tables say how many seeds each row averages.
        epochs: ``trainer.max_epochs``; None keeps the config's. With ``patience`` it is the cap.
        patience: train to convergence: stop once validation MAE has not improved for this many epochs
            (every model under the same rule; None: a fixed budget of ``epochs``).
        max_minutes: wall-clock cap of each fit (``trainer.max_time``); None: no cap.
        out: where the tables, JSON and plots go.
        work: where each run's checkpoint and result file go (default ``runs/benchmark/<name>``).
        name: dataset name in the file names (default the directory's name).
        overrides: ``key.path=value`` settings (YAML values) applied to the config last.
        command: the command line that asked for this, quoted in the Markdown (not part of the settings).
    """

    dataset: str
    protocol: str
    config: str
    models: Sequence[str]
    seeds: Sequence[int] = (0,)
    seeds_for: Mapping[str, Sequence[int]] = field(default_factory=dict)
    epochs: int | None = None
    patience: int | None = None
    max_minutes: float | None = None
    out: str = "docs/results"
    work: str | None = None
    name: str | None = None
    overrides: Sequence[str] = field(default_factory=tuple)
    command: str | None = None

    def __post_init__(self) -> None:
        valid = (*BASELINES, *ALL_ARCHS)
        unknown = [m for m in self.models if m not in valid]
        if unknown or not self.models:
            raise UserError(f"unknown model(s) {unknown or '(none given)'}; valid: {', '.join(valid)}")
        if len(set(self.models)) != len(self.models):
            raise UserError(f"--models lists a model twice: {list(self.models)}")
        _check_seeds("--seeds", self.seeds)
        for model, seeds in self.seeds_for.items():
            if model not in self.models or model in BASELINES:
                raise UserError(f"--seeds-for {model}: not a learned model of --models {list(self.models)}")
            _check_seeds(f"--seeds-for {model}: seeds", seeds)
        if self.epochs is not None and self.epochs < 1:
            raise UserError(f"--epochs must be >= 1, got {self.epochs}")
        if self.patience is not None and self.patience < 1:
            raise UserError(f"--patience must be >= 1, got {self.patience}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise UserError(f"--max-minutes must be > 0, got {self.max_minutes}")
        if not Path(self.dataset).is_dir():
            raise UserError(f"{self.dataset}: dataset directory not found")
        self.protocol_spec = Protocol.from_config(self.protocol, self.config)
        self.name = self.name or Path(self.dataset).resolve().name
        self.work = self.work or str(Path("runs") / "benchmark" / self.name)

    def seeds_of(self, model: str) -> list[int]:
        """The seeds ``model`` trains with: its ``seeds_for`` entry, else ``seeds``."""
        return list(self.seeds_for.get(model, self.seeds))

    def fingerprint(self) -> dict:
        """Everything a run's result depends on besides model and seed; a stored result must match it."""
        return {
            "dataset": str(Path(self.dataset).resolve()),
            "protocol": self.protocol,
            "config_sha256": hashlib.sha256(Path(self.config).read_bytes()).hexdigest(),
            "epochs": self.epochs,
            "overrides": list(self.overrides),
            **({"patience": self.patience} if self.patience is not None else {}),
            **({"max_minutes": self.max_minutes} if self.max_minutes is not None else {}),
        }


def _check_seeds(what: str, seeds: Sequence[int]) -> None:
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserError(f"{what} must be distinct and at least one, got {list(seeds)}")


def add_run_options(parser, work_help: str, set_help: str | None = None) -> None:
    """The command-line options ``bench accuracy`` and ``bench variants`` share."""
    parser.add_argument("--dataset", required=True, help="canonical dataset directory")
    parser.add_argument("--protocol", required=True, help="tgcn | standard | NAME of a configs/bench_NAME.yaml")
    parser.add_argument("--config", default=None, help="training config (default configs/bench_<protocol>.yaml)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=None, help="trainer.max_epochs (default: the config's)")
    parser.add_argument(
        "--patience",
        type=int,
        default=None,
        help="train to convergence: stop when val MAE has not improved for this many epochs (--epochs caps)",
    )
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock cap of each fit")
    parser.add_argument("--out", default="docs/results")
    parser.add_argument("--work", default=None, help=work_help)
    parser.add_argument("--name", default=None, help="dataset name in the output file names")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY.PATH=VALUE", help=set_help)


def settings_from_args(args, models: Sequence[str], command: str) -> BenchmarkSettings:
    """The settings the options of :func:`add_run_options` ask for; ``command`` is quoted in the tables."""
    return BenchmarkSettings(
        dataset=args.dataset,
        protocol=args.protocol,
        config=args.config or protocol_config(args.protocol),
        models=list(models),
        seeds=args.seeds,
        seeds_for=parse_seeds_for(getattr(args, "seeds_for", [])),  # benchmark_accuracy.py's option
        epochs=args.epochs,
        patience=args.patience,
        max_minutes=args.max_minutes,
        out=args.out,
        work=args.work,
        name=args.name,
        overrides=args.overrides,
        command=command,
    )


def parse_seeds_for(items: Sequence[str]) -> dict[str, list[int]]:
    """``["dcrnn=0", "graph_wavenet=0,1"]`` -> ``{"dcrnn": [0], "graph_wavenet": [0, 1]}``."""
    parsed: dict[str, list[int]] = {}
    for item in items:
        model, sep, seeds = item.partition("=")
        malformed = UserError(f"--seeds-for {item!r}: expected MODEL=SEED[,SEED...], e.g. dcrnn=0")
        if not sep or not model:
            raise malformed
        if model in parsed:  # a second entry would silently replace the first
            raise UserError(f"--seeds-for names {model} twice: {list(items)}")
        try:
            parsed[model] = [int(s) for s in seeds.split(",")]
        except ValueError:
            raise malformed from None
    return parsed


def parse_overrides(items: Sequence[str]) -> dict:
    """``["model.d_model=32", "trainer.limit_train_batches=2"]`` -> a nested dict (values read as YAML)."""
    nested: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set {item!r}: expected KEY.PATH=VALUE")
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UserError(f"--set {item!r}: {part} is set to a value and a section")
        node[leaf] = yaml.safe_load(value)
    return nested


def experiment_config(settings: BenchmarkSettings, arch: str, seed: int, root: Path) -> dict:
    """The config dict of one run: the file, the protocol, the run's model, seed and output paths."""
    from social_xlstm.experiment import load_config, merge_config

    protocol = settings.protocol_spec
    trainer = {"default_root_dir": str(root), "enable_progress_bar": False}
    if settings.epochs is not None:
        trainer["max_epochs"] = settings.epochs
    run = {
        "seed_everything": seed,
        "trainer": trainer,
        "model": {"arch": arch},
        "data": {
            "data_dir": str(settings.dataset),
            "window": protocol.window,
            "horizon": protocol.horizon,
            "split": list(protocol.split),
        },
        "metrics": {"output": str(root / "metrics.json"), "baselines": []},
        "forecasts": {"output": str(root / "forecasts.parquet")},
    }
    config = merge_config(load_config(settings.config, run), parse_overrides(settings.overrides))
    trainer = config.setdefault("trainer", {})
    if settings.patience is not None:
        stop = {"monitor": "val_mae", "mode": "min", "patience": settings.patience}
        callbacks = list(trainer.get("callbacks") or [])
        trainer["callbacks"] = [*callbacks, {"class_path": EARLY_STOPPING, "init_args": stop}]
    if settings.max_minutes is not None:
        seconds = round(settings.max_minutes * 60)
        days, hours, minutes = seconds // 86400, seconds // 3600 % 24, seconds // 60 % 60
        trainer["max_time"] = f"{days:02d}:{hours:02d}:{minutes:02d}:{seconds % 60:02d}"  # Lightning's form
    return config


def train_and_test(settings: BenchmarkSettings, arch: str, seed: int, root: Path, resume: bool = False) -> dict:
    """Fit one learned model and score its best checkpoint; returns its result record.

    ``resume``: continue an interrupted fit from ``root/checkpoints/last.ckpt`` (epochs, optimiser, early
    stopping's patience count and the random state all continue).
    """
    from social_xlstm.experiment import Experiment

    exp = Experiment(experiment_config(settings, arch, seed, root))
    start = time.perf_counter()
    best = exp.fit(ckpt_path="last" if resume else None)
    fit_seconds = time.perf_counter() - start
    stopped_by, epochs = _stopped_by(exp.trainer, settings), int(exp.trainer.current_epoch)  # before test()
    metrics = exp.test(best)  # restores the best checkpoint, callback states included
    curve = validation_curve(root)
    return {
        "model": arch,
        "seed": seed,
        "fit_seconds": round(fit_seconds, 1),
        "epochs": epochs,
        "stopped_by": stopped_by,
        "resumed": resume,
        "best_epoch": min(curve, key=lambda e: curve[e]) if curve else None,
        "val_mae": [curve[e] for e in sorted(curve)],
        "parameters": sum(p.numel() for p in exp.model.net.parameters()),
        "test_windows": metrics["test_windows"],
        "report": metrics["models"][arch],
    }


def validation_curve(root: Path) -> dict[int, float]:
    """Validation MAE per epoch from the run's CSV logs (every ``version_*``: a resumed fit logs anew)."""
    import pandas as pd

    curve: dict[int, float] = {}
    logs = sorted(root.glob("lightning_logs/version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1]))
    for path in logs:
        frame = pd.read_csv(path)
        if "val_mae" not in frame or "epoch" not in frame:
            continue
        for epoch, value in frame.dropna(subset=["val_mae"])[["epoch", "val_mae"]].itertuples(index=False):
            curve[int(epoch)] = round(float(value), 6)
    return curve


def _stopped_by(trainer, settings: BenchmarkSettings) -> str:
    """Why the fit ended: ``patience`` (converged by the rule), ``max_epochs`` or ``max_time`` (a cap)."""
    from lightning.pytorch.callbacks import EarlyStopping

    if any(isinstance(c, EarlyStopping) and c.stopped_epoch > 0 for c in trainer.callbacks):
        return "patience"
    if trainer.max_epochs is not None and trainer.current_epoch >= trainer.max_epochs:
        return "max_epochs"
    return "max_time" if settings.max_minutes is not None else "max_epochs"


def score_baselines(settings: BenchmarkSettings, names: Sequence[str], root: Path) -> list[dict]:
    """Score the non-learned baselines on the protocol's test windows (no training, no seed)."""
    from social_xlstm.experiment import Experiment
    from social_xlstm.forecast.evaluate import evaluate

    exp = Experiment(experiment_config(settings, "slstm_only", 0, root))
    start = time.perf_counter()
    metrics = evaluate(exp.datamodule, None, list(names), exp.model.mape_floor)
    seconds = round(time.perf_counter() - start, 1)
    return [
        {
            "model": name,
            "seed": None,
            "fit_seconds": seconds,
            "epochs": 0,
            "parameters": 0,
            "test_windows": metrics["test_windows"],
            "report": metrics["models"][name],
        }
        for name in names
    ]


def _result_path(settings: BenchmarkSettings, model: str, seed: int | None) -> Path:
    return Path(settings.work) / model / ("baseline" if seed is None else f"seed{seed}") / "result.json"


def _stored(path: Path, fingerprint: dict) -> dict | None:
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    return record if record.get("settings") == fingerprint else None


def run_benchmark(settings: BenchmarkSettings, log: Callable[[str], None] = print) -> dict:
    """Train and score every (model, seed) not stored yet, then write the summary files.

    Returns:
        the summary dict written to ``OUT/<name>.json``.
    """
    fingerprint = settings.fingerprint()
    learned = [m for m in settings.models if m not in BASELINES]
    baselines = [m for m in settings.models if m in BASELINES]
    _check_library(learned)
    records: dict[str, list[dict]] = {m: [] for m in settings.models}
    jobs = [(m, None) for m in baselines[:1]] + [(m, s) for m in learned for s in settings.seeds_of(m)]
    for k, (model, seed) in enumerate(jobs, 1):
        path = _result_path(settings, model, seed)
        stored = _stored(path, fingerprint)
        if stored is not None:
            found = stored["records"]
            status = "stored, not retrained"
        else:
            started = path.with_name("started.json")
            resume = (
                seed is not None
                and _stored(started, fingerprint) is not None
                and (path.parent / "checkpoints" / "last.ckpt").is_file()
            )
            if path.parent.exists() and not resume:  # other settings, or cut off before a checkpoint
                shutil.rmtree(path.parent)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic({"settings": fingerprint, "records": []}, started)
            if seed is None:
                found = score_baselines(settings, baselines, path.parent)
            else:
                found = [train_and_test(settings, model, seed, path.parent, resume=resume)]
            write_json_atomic({"settings": fingerprint, "records": found}, path)
            status = "resumed, done" if resume else "done"
        for record in found:
            records[record["model"]].append(record)
            what = record["model"] if seed is None else f"{model} seed {seed}"
            timing = "no training" if seed is None else f"fit {record['fit_seconds']:.0f} s, {record['epochs']} epochs"
            log(f"[{k}/{len(jobs)}] {what}: {status}; {timing}; {_headline(record)}")
    summary = summarise(settings, records)
    write_outputs(summary, Path(settings.out))
    return summary


def _check_library(models: Sequence[str]) -> None:
    """Fail before any training when a library model is asked for and its library cannot be imported."""
    wanted = [m for m in models if m in LIBRARY_MODELS]
    if wanted:
        from social_xlstm.nn.published import _import_tsl_models

        _import_tsl_models()


def _headline(record: dict) -> str:
    parts = []
    for variable, report in record["report"].items():
        mae = report["average"]["mae"]
        parts.append(f"{variable} MAE (12-step avg) {mae:.3f}" if mae is not None else f"{variable} MAE -")
    return "; ".join(parts)
