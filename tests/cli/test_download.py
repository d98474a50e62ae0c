"""``social-xlstm download``: the registry is well formed; downloads from a local file:// mirror are
sha256-checked, cached, resumed, refused when corrupt; manual files are named; --ingest runs the import."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import yaml

from social_xlstm.cli import main
from social_xlstm.data import download as dl
from social_xlstm.data.importers import IMPORTERS
from social_xlstm.errors import DataError, UserError

WIDE = b"timestamp,A,B\n2024-01-01T00:00Z,1,2\n2024-01-01T00:05Z,3,4\n2024-01-01T00:10Z,5,6\n"
STATIONS = b"vd_id,lat,lon\nA,25.0,121.5\nB,25.01,121.5\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _mirror(tmp_path: Path, manual: bool = False, speeds: bytes = WIDE) -> tuple[Path, str]:
    """A registry of one small dataset and a file:// mirror holding its files."""
    (tmp_path / "mirror" / "tiny").mkdir(parents=True)
    (tmp_path / "mirror" / "tiny" / "speeds.csv").write_bytes(speeds)
    (tmp_path / "mirror" / "tiny" / "stations.csv").write_bytes(STATIONS)
    files = [
        {"name": "speeds.csv", "url": "https://example.org/speeds.csv", "sha256": _sha(WIDE), "size": len(WIDE)},
        {"name": "stations.csv", "url": "https://example.org/st.csv", "sha256": _sha(STATIONS), "size": len(STATIONS)},
    ]
    if manual:
        files.append({"name": "extra.csv", "manual": "ask the road operator for extra.csv", "sha256": None})
    registry = {"tiny": {"description": "two VDs", "licence": "CC BY-NC 4.0 (non-commercial)", "files": files,
                         "ingest": {"format": "wide", "sources": ["{raw}/speeds.csv"],
                                    "options": {"stations": "{raw}/stations.csv", "variable": "speed"}}}}  # fmt: skip
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(registry))
    return path, (tmp_path / "mirror").as_uri()


def test_the_packaged_registry_is_well_formed():
    registry = dl.load_registry()
    assert {"los-loop", "metr-la", "pems-bay", "pems04", "largest-sd"} <= set(registry)
    for entry in registry.values():
        assert entry.ingest["format"] in IMPORTERS and entry.licence and entry.files
        for item in entry.files:
            assert item.manual or (item.url.startswith("https://") and item.sha256 and item.size)
    assert "non-commercial" in registry["largest-sd"].licence


def test_download_prints_the_licence_and_sizes_then_the_ingest_command(tmp_path, capsys):
    registry, mirror = _mirror(tmp_path)
    raw = tmp_path / "raw"
    assert main(["download", "tiny", "--registry", str(registry), "--mirror", mirror, "--out", str(raw)]) == 0
    out = capsys.readouterr().out
    assert out.index("licence: CC BY-NC 4.0") < out.index("speeds.csv: downloaded")
    assert re.search(r"speeds.csv +80 B +download", out)  # the size, before the download
    assert f"social-xlstm ingest wide {raw}/speeds.csv --stations {raw}/stations.csv --variable speed" in out
    assert (raw / "speeds.csv").read_bytes() == WIDE and not list(raw.glob(".*.part"))


def test_a_second_call_is_served_from_the_cache(tmp_path, capsys, monkeypatch):
    registry, mirror = _mirror(tmp_path)
    argv = ["download", "tiny", "--registry", str(registry), "--mirror", mirror, "--out", str(tmp_path / "raw")]
    assert main(argv) == 0
    monkeypatch.setattr(dl, "fetch", lambda *a, **k: pytest.fail("fetched although cached"))
    assert main(argv) == 0
    assert capsys.readouterr().out.count("cached (sha256 matches)") == 2


def test_an_interrupted_download_resumes_from_its_part(tmp_path):
    registry, mirror = _mirror(tmp_path)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / ".speeds.csv.part").write_bytes(WIDE[:20])  # what an interrupted call left
    seen = []
    entry = dl.load_registry(registry)["tiny"]
    got = dl.fetch(f"{mirror}/tiny/speeds.csv", raw / "speeds.csv", _sha(WIDE), len(WIDE), seen.append)
    assert got == _sha(WIDE) and (raw / "speeds.csv").read_bytes() == WIDE
    assert seen[0] == 20 and sum(seen) == len(WIDE)  # the 20 bytes held were counted, not fetched again
    assert entry.files[0].name == "speeds.csv"


def test_a_corrupt_download_is_refused_by_its_hash_and_nothing_kept(tmp_path, capsys):
    registry, mirror = _mirror(tmp_path, speeds=WIDE.replace(b"5,6", b"5,9"))
    raw = tmp_path / "raw"
    code = main(["download", "tiny", "--registry", str(registry), "--mirror", mirror, "--out", str(raw)])
    err = capsys.readouterr().err
    assert code == 2 and "does not match the registry's sha256" in err and _sha(WIDE) in err
    assert not (raw / "speeds.csv").exists() and not list(raw.glob(".*.part"))


def test_manual_files_are_named_and_ingest_waits_for_them(tmp_path, capsys):
    registry, mirror = _mirror(tmp_path, manual=True)
    base = ["download", "tiny", "--registry", str(registry), "--mirror", mirror, "--out", str(tmp_path / "raw")]
    assert main(base) == 0
    assert "extra.csv: fetch it by hand: ask the road operator for extra.csv" in capsys.readouterr().out
    assert main([*base, "--ingest", str(tmp_path / "ds")]) == 2
    assert "extra.csv must be fetched by hand first" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


def test_ingest_runs_the_import(tmp_path, capsys):
    registry, mirror = _mirror(tmp_path)
    ds = tmp_path / "ds"
    argv = ["download", "tiny", "--registry", str(registry), "--mirror", mirror, "--out", str(tmp_path / "raw"),
            "--ingest", str(ds)]  # fmt: skip
    assert main(argv) == 0
    assert (ds / "dataset.json").is_file() and f"wrote {ds}" in capsys.readouterr().out


def test_unknown_names_unverified_files_and_unreachable_sources(tmp_path):
    registry, mirror = _mirror(tmp_path)
    with pytest.raises(UserError, match=r"unknown dataset 'nope'; the registry has: tiny"):
        dl.download("nope", tmp_path / "raw", registry=dl.load_registry(registry))
    spec = yaml.safe_load(registry.read_text())
    spec["tiny"]["files"][0]["sha256"] = None
    registry.write_text(yaml.safe_dump(spec))
    with pytest.raises(UserError, match=r"speeds.csv have no verified sha256 .*--allow-unverified"):
        dl.download("tiny", tmp_path / "raw", mirror=mirror, registry=dl.load_registry(registry))
    _, missing = dl.download("tiny", tmp_path / "raw", mirror=mirror, allow_unverified=True,
                             registry=dl.load_registry(registry), say=lambda s: None)  # fmt: skip
    assert missing == [] and (tmp_path / "raw" / "speeds.csv").read_bytes() == WIDE
    with pytest.raises(DataError, match=r"cannot download .*--mirror file:///PATH"):
        dl.download("tiny", tmp_path / "raw2", mirror=(tmp_path / "nowhere").as_uri(),
                    allow_unverified=True, registry=dl.load_registry(registry))  # fmt: skip
    (tmp_path / "bad.yaml").write_text("tiny: {files: [{name: a.csv}]}\n")
    with pytest.raises(DataError, match=r"bad.yaml"):
        dl.load_registry(tmp_path / "bad.yaml")


@pytest.mark.realdata
def test_los_loop_from_a_mirror_of_the_shared_files(tmp_path, shared_data):
    mirror = tmp_path / "mirror" / "los-loop"
    mirror.mkdir(parents=True)
    for name in ("los_speed.csv", "los_adj.csv"):
        (mirror / name).write_bytes((shared_data / "los-loop" / name).read_bytes())
    locations = shared_data / "dcrnn-sensor-graphs" / "graph_sensor_locations.csv"
    (mirror / locations.name).write_bytes(locations.read_bytes())
    argv = ["download", "los-loop", "--mirror", (tmp_path / "mirror").as_uri(), "--out", str(tmp_path / "raw"),
            "--ingest", str(tmp_path / "ds")]  # fmt: skip
    assert main(argv) == 0  # the registry's hashes are the published files'
    assert (tmp_path / "ds" / "edges.parquet").is_file()
