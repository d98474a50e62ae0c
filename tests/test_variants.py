"""The variant study: base runs reused, only the listed models retrained, gains against the right ablations."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from social_xlstm.bench import run as benchmark
from social_xlstm.bench.variants import VariantSettings, load_variants, run_variants
from social_xlstm.errors import UserError

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "bench_standard.yaml"
SHIPPED = Path(__file__).resolve().parents[1] / "configs" / "variants.yaml"

# a fake model's MAE at every step: the base value of the model, minus what the variant's overrides give
BASE_MAE = {"slstm_only": 10.0, "slstm_pool": 9.0, "social_xlstm": 8.0}
GAIN = {"model.social.forget_init=0.0": 2.0, "data.window=24": 1.0}


def fake_train(calls):
    def train_and_test(settings, arch, seed, root, resume=False):
        calls.append((arch, seed, tuple(settings.overrides)))
        mae = BASE_MAE[arch] - sum(GAIN.get(o, 0.0) for o in settings.overrides) + 0.5 * seed
        steps = [{"step": h, "minutes": 5.0 * h, "mae": mae, "rmse": mae, "mape": mae} for h in range(1, 13)]
        report = {"flow": {"steps": steps, "average": {"mae": mae, "rmse": mae, "mape": mae}}}
        return {
            "model": arch,
            "seed": seed,
            "fit_seconds": 3.0,
            "epochs": 1,
            "parameters": 1,
            "test_windows": 5,
            "report": report,
        }

    return train_and_test


def write_variants(path: Path) -> Path:
    path.write_text(
        "variants:\n"
        "  - name: fast\n    what: fast forgetting\n    set: [model.social.forget_init=0.0]\n"
        "  - name: long\n    what: longer window\n    set: [data.window=24]\n"
        "    models: [slstm_only, slstm_pool, social_xlstm]\n"
    )
    return path


def test_variants_reuse_base_and_compare_with_the_right_ablations(tiny_dataset, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(benchmark, "train_and_test", fake_train(calls))
    variants = load_variants(write_variants(tmp_path / "v.yaml"))
    work = tmp_path / "work"
    # the benchmark ran first: its runs are the base and are not trained again
    bench = benchmark.BenchmarkSettings(
        dataset=str(tiny_dataset),
        protocol="standard",
        config=str(CONFIG),
        models=["slstm_only", "slstm_pool", "social_xlstm"],
        seeds=[0, 1],
        epochs=1,
        out=str(tmp_path / "bench"),
        work=str(work),
        name="tiny",
    )
    benchmark.run_benchmark(bench, log=lambda line: None)
    calls.clear()
    settings = VariantSettings(replace(bench, out=str(tmp_path / "out")), variants)
    result = run_variants(settings, log=lambda line: None)
    # fast retrains only the full model; long retrains all three; the base nothing
    assert sorted(calls) == sorted(
        [("social_xlstm", s, ("model.social.forget_init=0.0",)) for s in (0, 1)]
        + [(m, s, ("data.window=24",)) for m in BASE_MAE for s in (0, 1)]
    )
    rows = {row["name"]: row for row in result["variants"]}
    assert list(rows) == ["base", "fast", "long"]

    def mae60(row, model):
        return row["models"][model]["variables"]["flow"]["mae"]["60"]["mean"]

    # seeds 0 and 1 add 0 and 0.5: the mean is the fake value + 0.25
    assert mae60(rows["fast"], "social_xlstm") == pytest.approx(6.25)
    assert mae60(rows["fast"], "slstm_only") == pytest.approx(10.25)  # the base's ablation
    assert mae60(rows["long"], "slstm_only") == pytest.approx(9.25)  # retrained under the window
    text = (tmp_path / "out" / "tiny-variants.md").read_text()
    fast = next(line for line in text.splitlines() if line.startswith("| fast |"))
    cells = [c.strip() for c in fast.strip("|").split("|")]
    # 6.25 vs 10.25: -39.0%; vs pooling 9.25: -32.4%
    assert cells[2:8] == ["10.25 ± 0.35", "9.25 ± 0.35", "6.25 ± 0.35", "6.25 ± 0.35", "-39.0%", "-32.4%"]
    assert cells[-1] == "social_xlstm"
    assert json.loads((tmp_path / "out" / "tiny-variants.json").read_text())["variants"][2]["retrained"] == list(
        BASE_MAE
    )

    # a second call trains nothing
    calls.clear()
    run_variants(settings, log=lambda line: None)
    assert calls == []


def test_shipped_variants_file_parses():
    variants = load_variants(SHIPPED)
    names = [v.name for v in variants]
    assert len(names) == len(set(names)) and "between" in names and "dense" in names
    assert all("social_xlstm" in v.models for v in variants)


@pytest.mark.parametrize(
    "body, message",
    [
        ("variants: []\n", "non-empty list under 'variants'"),
        ("variants:\n  - what: x\n", "needs a 'name'"),
        ("variants:\n  - name: a\n    sett: [x=1]\n", "unknown keys ['sett']"),
        ("variants:\n  - name: a\n    models: [lstm]\n", "models must include social_xlstm"),
        ("variants:\n  - name: a\n    set: [model.d_model]\n", "KEY.PATH=VALUE"),
    ],
)
def test_bad_variants_file_names_what(tmp_path, body, message):
    path = tmp_path / "v.yaml"
    path.write_text(body)
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_variants(path)


def test_unknown_variant_name_and_reserved_base(tmp_path, tiny_dataset):
    path = write_variants(tmp_path / "v.yaml")
    with pytest.raises(UserError, match=r"unknown variant\(s\) \['nope'\]"):
        load_variants(path, ["nope"])
    with pytest.raises(UserError, match="not 'base'"):
        VariantSettings(
            benchmark.BenchmarkSettings(
                dataset=str(tiny_dataset), protocol="standard", config=str(CONFIG), models=["social_xlstm"]
            ),
            load_variants(path) + load_variants(path),
        )
