"""Variants of the social layer measured against its two ablations, on the benchmark's harness.

``scripts/benchmark_variants.py`` is the command line over :func:`run_variants`. A variant is a set of
``--set`` overrides (YAML: ``configs/variants.yaml``) and the models it changes: a social-only option
(``model.social.*``) retrains only ``social_xlstm``; a data or width option (``data.window``,
``model.d_model``) retrains the ablations too, because they see the same change. Every run goes through
:func:`~social_xlstm.bench.run.run_benchmark` with the same seeds, so each variant row compares

    social_xlstm(variant)  vs  slstm_only(variant or base)  vs  slstm_pool(variant or base)

on the same test windows. The base runs are the benchmark's own (same work directory, same settings), so
a benchmark run already made is not retrained. The table goes to ``OUT/<dataset>-variants.md`` and ``.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from social_xlstm.atomic import atomic_file, write_json_atomic
from social_xlstm.bench.report import format_stat
from social_xlstm.bench.run import BenchmarkSettings, parse_overrides, run_benchmark
from social_xlstm.errors import UserError

ABLATIONS = ("slstm_only", "slstm_pool")
"""The models every variant of the full model is compared with: no social layer, neighbour mean instead."""
FULL = "social_xlstm"
COMPARED = (*ABLATIONS, FULL)


@dataclass(frozen=True)
class Variant:
    """One experiment: overrides of the benchmark config and the models they change."""

    name: str
    what: str
    overrides: tuple[str, ...] = ()
    models: tuple[str, ...] = (FULL,)


@dataclass
class VariantSettings:
    """What :func:`run_variants` runs: the benchmark's own settings (the base) and the variants.

    ``base.models`` is set to the three compared models; ``base.overrides`` apply to every run, each variant's
    after them; ``base.out`` is where the variant table goes; each variant's runs live under
    ``base.work/variants/<name>``.
    """

    base: BenchmarkSettings
    variants: Sequence[Variant]

    def __post_init__(self) -> None:
        self.base = replace(self.base, models=list(COMPARED))
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names) or "base" in names:
            raise UserError(f"variant names must be distinct and not 'base', got {names}")


def load_variants(path: str | Path, only: Sequence[str] | None = None) -> list[Variant]:
    """The variants of a YAML file (``variants: [{name, what, set, models}]``), optionally only some."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: variants file not found")
    doc = yaml.safe_load(path.read_text()) or {}
    entries = doc.get("variants")
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{path}: expected a non-empty list under 'variants'")
    variants = []
    for k, entry in enumerate(entries):
        where = f"{path}: variants[{k}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise UserError(f"{where}: each variant needs a 'name'")
        unknown = set(entry) - {"name", "what", "set", "models"}
        if unknown:
            valid = "name, what, set, models"
            raise UserError(f"{where} ({entry['name']}): unknown keys {sorted(unknown)}; valid: {valid}")
        models = tuple(entry.get("models", [FULL]))
        if FULL not in models or any(m not in COMPARED for m in models):
            raise UserError(f"{where} ({entry['name']}): models must include {FULL} and be among {list(COMPARED)}")
        overrides = tuple(entry.get("set", []))
        parse_overrides(overrides)  # a malformed KEY.PATH=VALUE fails here, before any training
        variants.append(Variant(entry["name"], entry.get("what", ""), overrides, models))
    if only:
        known = {v.name for v in variants}
        missing = [n for n in only if n not in known]
        if missing:
            raise UserError(f"unknown variant(s) {missing}; {path} defines {sorted(known)}")
        variants = [v for v in variants if v.name in only]
    return variants


def _benchmark(settings: VariantSettings, variant: Variant) -> BenchmarkSettings:
    """A variant's benchmark: the base's settings, its own work directory and name, its overrides last."""
    base = settings.base
    return replace(
        base,
        models=list(variant.models),
        out=str(Path(base.work) / "variants" / "summaries"),
        work=str(Path(base.work) / "variants" / variant.name),
        name=f"{base.name}-{variant.name}",
        overrides=[*base.overrides, *variant.overrides],
        command=None,
    )


def run_variants(settings: VariantSettings, log: Callable[[str], None] = print) -> dict:
    """Train what is missing of the base and of every variant, then write the comparison table."""
    log(f"base: {', '.join(COMPARED)}")
    # the base runs are the benchmark's own (same work directory and settings), so they are reused
    base = run_benchmark(
        replace(settings.base, out=str(Path(settings.base.work) / "variants" / "summaries")),
        log=lambda line: log("  " + line),
    )
    rows = [
        {
            "name": "base",
            "what": "the benchmark config",
            "overrides": [],
            "retrained": list(COMPARED),
            "models": {m: base["models"][m] for m in COMPARED},
        }
    ]
    for k, variant in enumerate(settings.variants, 1):
        log(f"variant {k}/{len(settings.variants)} {variant.name}: {' '.join(variant.overrides) or '-'}")
        summary = run_benchmark(_benchmark(settings, variant), log=lambda line: log("  " + line))
        models = {m: summary["models"][m] if m in variant.models else base["models"][m] for m in COMPARED}
        rows.append(
            {
                "name": variant.name,
                "what": variant.what,
                "overrides": list(variant.overrides),
                "retrained": list(variant.models),
                "models": models,
            }
        )
    bench = settings.base
    result = {
        "dataset": bench.name,
        "protocol": bench.protocol,
        "config": bench.config,
        "epochs": bench.epochs,
        "seeds": list(bench.seeds),
        "base_overrides": list(bench.overrides),
        "command": bench.command,
        "machine": base["machine"],
        "variants": rows,
    }
    out = Path(bench.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(result, out / f"{bench.name}-variants.json")
    with atomic_file(out / f"{bench.name}-variants.md") as tmp:
        tmp.write_text(render_variants(result))
    return result


def _stat(entry: dict, variable: str, point: str) -> dict:
    return entry["variables"][variable]["mae"][point]


def _change(full: dict, other: dict) -> str:
    """Relative change of the full model's error against another model's, in percent (negative = better)."""
    if full["mean"] is None or not other["mean"]:
        return "-"
    return f"{100.0 * (full['mean'] - other['mean']) / other['mean']:+.1f}%"


def render_variants(result: dict) -> str:
    """Per target variable: each variant's masked MAE at 60 min and over all steps, and the social layer's gain."""
    first = result["variants"][0]["models"][FULL]
    variables = list(first["variables"])
    last = max((p for p in first["variables"][variables[0]]["mae"] if p != "avg"), key=float)
    lines = [
        f"# Social-layer variants: {result['dataset']} ({result['protocol']} protocol)",
        "",
        f"Each row trains the full model (`{FULL}`) with the row's overrides and compares it with the no-social "
        "ablation (`slstm_only`) and the pooling ablation (`slstm_pool`) under the same overrides (retrained "
        "where the override changes them, else the base runs), same seeds, same test windows. Masked MAE in "
        "original units, mean ± sample standard deviation over seeds; the change columns are the full "
        f"model's {last}-minute MAE against each ablation's (negative: the social layer helps).",
        "",
        f"- config `{result['config']}`, epochs {result['epochs'] or 'as configured'}, seeds {result['seeds']}, "
        f"base overrides {result['base_overrides'] or 'none'}",
        f"- machine: {result['machine']['processor']}, {result['machine']['platform']}, torch "
        f"{result['machine']['torch']}, {result['machine']['threads']} threads",
    ]
    if result.get("command"):
        lines.append(f"- command: `{result['command']}`")
    for variable in variables:
        lines += [
            "",
            f"## {variable}: MAE",
            "",
            f"| variant | overrides | no-social {last} min | pooling {last} min | full {last} min | full avg | "
            "vs no-social | vs pooling | full fit (s) | retrained |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for row in result["variants"]:
            models = row["models"]
            full, only, pool = (_stat(models[m], variable, last) for m in (FULL, *ABLATIONS))
            fit = models[FULL]["fit_seconds"]["mean"]
            overrides = ", ".join(f"`{o}`" for o in row["overrides"]) or "-"
            cells = [format_stat(s) for s in (only, pool, full, _stat(models[FULL], variable, "avg"))]
            lines.append(
                f"| {row['name']} | {overrides} | " + " | ".join(cells) + f" | {_change(full, only)} | "
                f"{_change(full, pool)} | {fit:.0f} | {', '.join(row['retrained'])} |"
            )
    lines += ["", "## What each variant is", ""]
    lines += [f"- **{row['name']}**: {row['what']}" for row in result["variants"]]
    return "\n".join(lines) + "\n"
