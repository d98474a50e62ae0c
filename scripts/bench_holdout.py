"""Forecasts at VDs the model never observed (the intervals / virtual-VD issue, item 2), resumable.

For each holdout draw (``data.holdout_seed``) and each VD-masking rate, one fit of the bench protocol's
config with ``data.holdout_vds: SHARE``; its test scores the held-out VDs alone against the
inverse-distance baselines (``idw_persistence``, ``idw_historical_average``, ``idw_model``). One more fit
on every VD (``observed``) is scored at each draw's held-out VDs with their readings visible: the price
of having no detector there.

    python scripts/bench_holdout.py --dataset runs/data/los-loop [--draws 0 1 2] [--mask 0 0.25] [--share 0.25]
        [--epochs 8] [--threads 1] [--set model.embedding.calendar=learned ...] [--no-observed]
        [--work runs/holdout] [--name los-loop-holdout] [--out docs/results] [--table-only]

Runs already stored under ``--work`` are read back, so two queues can run side by side (e.g. ``--mask 0
--no-observed`` and ``--mask 0.25``) and a last call with ``--table-only`` writes ``OUT/NAME.md`` and
``.json`` from every stored run. Runs of the same share already published in ``OUT/NAME.json`` (from
another machine, whose work folder is gone) count as stored too: a fresh clone adds draws to them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from social_xlstm.bench.run import parse_overrides
from social_xlstm.data.holdout import draw_holdout
from social_xlstm.experiment import Experiment, load_config, merge_config
from social_xlstm.metrics import MaskedErrors
from social_xlstm.training.module import ForecastModule

MINUTES = (15, 30, 45, 60)
BASELINES = ("idw_persistence", "idw_historical_average", "idw_model")


def _config(args, work: Path, data: dict) -> dict:
    overrides = merge_config(
        {
            "seed_everything": args.seed,
            "data": {"data_dir": args.dataset, **data},
            "trainer": {"max_epochs": args.epochs, "default_root_dir": str(work), "enable_progress_bar": False},
        },
        parse_overrides(args.overrides),
    )
    return load_config(args.config, overrides)


def _steps(report: dict) -> dict:
    """variable -> {minutes: mae} of a metrics report."""
    return {var: {f"{s['minutes']:g}": s["mae"] for s in r["steps"]} for var, r in report.items()}


def _published(args) -> dict:
    """The runs of ``OUT/NAME.json`` at this share (``{"runs": [], "observed": None}`` when there are none)."""
    path = Path(args.out) / f"{args.name}.json"
    summary = json.loads(path.read_text()) if path.exists() else {}
    if summary.get("share") != args.share:
        return {"runs": [], "observed": None}
    return {"runs": summary.get("runs", []), "observed": summary.get("observed")}


def run_held_out(args, draw: int, mask: float) -> dict:
    work = Path(args.work) / f"draw{draw}-mask{mask:g}"
    stored = work / "result.json"
    if stored.exists():
        return json.loads(stored.read_text())
    published = [r for r in _published(args)["runs"] if r["draw"] == draw and r["mask_vds"] == mask]
    if published:
        return published[0]
    start = time.perf_counter()
    exp = Experiment(_config(args, work, {"holdout_vds": args.share, "holdout_seed": draw, "mask_vds": mask}))
    best = exp.fit()
    fit_seconds = time.perf_counter() - start
    metrics = exp.test(best)
    result = {
        "draw": draw, "mask_vds": mask, "fit_seconds": round(fit_seconds, 1), "epochs": exp.trainer.current_epoch,
        "held_out": metrics["holdout"]["vds"], "models": {n: _steps(r) for n, r in metrics["models"].items()},
    }  # fmt: skip
    stored.write_text(json.dumps(result, indent=1))
    return result


@torch.no_grad()
def _score_at(module: ForecastModule, datamodule, vds: np.ndarray) -> dict:
    """The model's test MAE at the VDs ``vds`` (N,) bool, every VD's readings visible."""
    info = datamodule.info()
    errors = MaskedErrors(info.horizon, len(info.targets), module.mape_floor)
    for batch in datamodule.test_dataloader():
        mask = batch["y_mask"] & torch.from_numpy(vds)[None, None, :, None]
        errors.update(module(batch), batch["y"], mask)
    return _steps(errors.report(info.targets, info.freq_minutes))


def run_observed(args) -> dict:
    work = Path(args.work) / "observed"
    stored = work / "result.json"
    result = json.loads(stored.read_text()) if stored.exists() else None
    if result is None:
        start = time.perf_counter()
        exp = Experiment(_config(args, work, {}))
        best = exp.fit()
        result = {"fit_seconds": round(time.perf_counter() - start, 1), "epochs": exp.trainer.current_epoch,
                  "checkpoint": best, "draws": {}}  # fmt: skip
    missing = [d for d in args.draws if str(d) not in result["draws"]]
    if missing:
        exp = Experiment(_config(args, work, {}))
        module = ForecastModule.from_checkpoint(result["checkpoint"]).eval()
        for draw in missing:
            hidden = draw_holdout(exp.datamodule.panel.vd_ids, args.share, draw)
            result["draws"][str(draw)] = _score_at(module, exp.datamodule, hidden)
    work.mkdir(parents=True, exist_ok=True)
    stored.write_text(json.dumps(result, indent=1))
    return result


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.fmean(values):.3f} +- {statistics.stdev(values):.3f}"


def write_table(args) -> None:
    work = Path(args.work)
    runs = [json.loads(p.read_text()) for p in sorted(work.glob("draw*-mask*/result.json"))]
    published = _published(args)
    ran = {(r["draw"], r["mask_vds"]) for r in runs}
    runs = sorted(runs + [r for r in published["runs"] if (r["draw"], r["mask_vds"]) not in ran],
                  key=lambda r: (r["draw"], r["mask_vds"]))  # fmt: skip
    observed_path = work / "observed" / "result.json"
    observed = json.loads(observed_path.read_text()) if observed_path.exists() else published["observed"]
    if not runs:
        raise SystemExit(f"{work}: no stored run yet")
    variables = list(runs[0]["models"][next(iter(runs[0]["models"]))])
    masks = sorted({r["mask_vds"] for r in runs})
    lines = [f"# {args.name}: forecasts at held-out VDs (scripts/bench_holdout.py)", "",
             f"{args.share:.0%} of the VDs held out (`data.holdout_vds`), draws (`data.holdout_seed`) "
             f"{sorted({r['draw'] for r in runs})}; masked MAE at the held-out VDs, mean +- std over draws.",
             ""]  # fmt: skip
    summary = {"share": args.share, "runs": runs, "observed": observed, "gaps": {}}
    for var in variables:
        lines += [f"## {var}", "", "| forecaster | draws | " + " | ".join(f"{m} min" for m in MINUTES) + " |",
                  "|---|---:|" + "---:|" * len(MINUTES)]  # fmt: skip
        for mask in masks:
            group = [r for r in runs if r["mask_vds"] == mask]
            model = next(n for n in group[0]["models"] if n not in BASELINES)
            label = f"{model}, mask_vds {mask:g}"
            for name in (model, *BASELINES):
                cells = [_cell([r["models"][name][var][str(m)] for r in group if name in r["models"]]) for m in MINUTES]
                shown = label if name == model else f"{name} ({label})"
                lines.append(f"| {shown} | {len(group)} | " + " | ".join(cells) + " |")
            gaps = {}
            for m in MINUTES:
                per = []
                for r in group:
                    best = min(
                        r["models"][b][var][str(m)] for b in ("idw_persistence", "idw_model") if b in r["models"]
                    )
                    per.append(r["models"][model][var][str(m)] / best - 1)
                gaps[m] = per
            summary["gaps"][f"{var}, mask_vds {mask:g}"] = gaps
            lines.append(f"| gap to the better IDW baseline ({label}) | | " +
                         " | ".join(f"{statistics.fmean(g):+.1%}" for g in gaps.values()) + " |")  # fmt: skip
        if observed is not None:
            draws = sorted({r["draw"] for r in runs} & {int(d) for d in observed["draws"]})
            cells = [_cell([observed["draws"][str(d)][var][str(m)] for d in draws]) for m in MINUTES]
            lines.append(
                f"| observed: the same VDs, model trained on every VD | {len(draws)} | " + " | ".join(cells) + " |"
            )
        lines.append("")
    lines.append("Fits: " + "; ".join(f"draw {r['draw']} mask {r['mask_vds']:g}: {r['epochs']} epochs, "
                                       f"{r['fit_seconds']:.0f} s" for r in runs) +
                 (f"; observed: {observed['epochs']} epochs, {observed['fit_seconds']:.0f} s"
                  if observed else ""))  # fmt: skip
    out = Path(args.out)
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    (out / f"{args.name}.json").write_text(json.dumps(summary, indent=1))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--config", default="configs/bench_tgcn.yaml")
    parser.add_argument("--share", type=float, default=0.25)
    parser.add_argument("--draws", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--mask", type=float, nargs="*", default=[0.0, 0.25], help="none: the observed model only")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="the models' seed (the draws have their own)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", dest="overrides", nargs="*", default=[])
    parser.add_argument("--no-observed", dest="observed", action="store_false")
    parser.add_argument("--work", default="runs/holdout")
    parser.add_argument("--name", default="los-loop-holdout")
    parser.add_argument("--out", default="docs/results")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.table_only:
        if args.observed:
            run_observed(args)
        for draw in args.draws:
            for mask in args.mask:
                run_held_out(args, draw, mask)
    write_table(args)


if __name__ == "__main__":
    main()
