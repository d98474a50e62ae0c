"""``--overwrite`` replaces only what this tool wrote; every check runs before anything is deleted.

Each refusal is exit status 2 with one ``error:`` line, and the directory it was asked to replace is
left exactly as it was (every file and sub-folder still there, no stray temporary beside it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from social_xlstm.cli import main
from social_xlstm.outputs import RUN_MARK


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _refused(argv: list[str], capsys, *words: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


@pytest.fixture
def wide(tmp_path) -> list[str]:
    src = tmp_path / "src"
    src.mkdir()
    rows = "".join(f"2024-01-01T00:{5 * i:02d}:00Z,{i},{i + 1}\n" for i in range(6))
    (src / "wide.csv").write_text("timestamp,s1,s2\n" + rows)
    (src / "st.csv").write_text("vd_id,lat,lon\ns1,25.0,121.5\ns2,25.01,121.5\n")
    return ["ingest", "wide", str(src / "wide.csv"), "--stations", str(src / "st.csv")]


@pytest.fixture
def unrelated(tmp_path) -> Path:
    folder = tmp_path / "thesis"
    (folder / "chapters").mkdir(parents=True)
    (folder / "thesis.tex").write_text("\\documentclass{book}")
    (folder / "chapters" / "one.tex").write_text("results")
    return folder


def test_ingest_overwrite_refuses_a_folder_it_did_not_write(wide, unrelated, capsys):
    before = _tree(unrelated)
    _refused([*wide, "--out", str(unrelated), "--overwrite"], capsys, "thesis", "only a directory this tool wrote")
    assert _tree(unrelated) == before
    assert sorted(p.name for p in unrelated.parent.iterdir()) == ["src", "thesis"]  # no stray temporary


def test_ingest_refuses_an_output_that_holds_its_sources(wide, tmp_path, capsys):
    src = tmp_path / "src"
    before = _tree(src)
    _refused([*wide, "--out", str(src), "--overwrite"], capsys, "holds the source", "would delete the source")
    assert _tree(src) == before


def test_an_output_inside_a_source_directory_is_refused(tmp_path):
    from social_xlstm.errors import UserError
    from social_xlstm.outputs import DATASET_MARK, check_output_dir

    (tmp_path / "raw").mkdir()
    with pytest.raises(UserError, match="lies inside the source"):
        check_output_dir(tmp_path / "raw" / "ds", False, [DATASET_MARK], [tmp_path / "raw"])
    assert check_output_dir(tmp_path / "ds", False, [DATASET_MARK], [tmp_path / "raw"]) == tmp_path / "ds"


def test_ingest_overwrite_replaces_its_own_dataset(wide, tmp_path, capsys):
    out = tmp_path / "ds"
    assert main([*wide, "--out", str(out)]) == 0
    _refused([*wide, "--out", str(out)], capsys, "exists and is not empty", "--overwrite")
    (out / "dataset.json").write_text((out / "dataset.json").read_text())
    assert main([*wide, "--out", str(out), "--overwrite"]) == 0
    assert (out / "stations.parquet").is_file()


def test_out_naming_the_current_directory_or_a_file(wide, tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    monkeypatch.chdir(work)
    _refused([*wide, "--out", ".", "--overwrite"], capsys, "current directory")
    _refused([*wide, "--out", "..", "--overwrite"], capsys, "current directory")
    _refused([*wide, "--out", "notes.txt", "--overwrite"], capsys, "is a file, not a directory")
    assert sorted(os.listdir(work)) == ["notes.txt"] and (work / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_synth_overwrite_refuses_a_folder_it_did_not_write(unrelated, capsys):
    before = _tree(unrelated)
    _refused(["synth", "--out", str(unrelated), "--overwrite", "--vds", "2", "--days", "1"], capsys, "thesis")
    assert _tree(unrelated) == before


def test_demo_checks_everything_before_deleting_the_old_run(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / RUN_MARK).write_text("{}")
    (run / "notes.md").write_text("what I saw")
    before = _tree(run)
    missing = str(tmp_path / "missing.yaml")
    _refused(["demo", "--out", str(run), "--overwrite", "--config", missing], capsys, "missing.yaml")
    assert _tree(run) == before


def test_demo_overwrite_refuses_a_folder_it_did_not_write(unrelated, capsys):
    before = _tree(unrelated)
    _refused(["demo", "--out", str(unrelated), "--overwrite"], capsys, "only a directory this tool wrote")
    assert _tree(unrelated) == before


def test_stream_refuses_a_directory_as_its_output_before_the_replay(tmp_path, capsys):
    folder = tmp_path / "forecasts"
    folder.mkdir()
    missing = tmp_path / "none.ckpt"  # the output is checked first, so the checkpoint is never read
    _refused(["stream", "--checkpoint", str(missing), "--replay", str(tmp_path), "--out", str(folder)], capsys,
             "is a directory")  # fmt: skip
