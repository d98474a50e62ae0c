"""Archives as published: zip, tar.gz, 7z and a gzipped file read where their files are what an importer
reads; members that would escape the folder, links, nested archives and corrupt archives refused."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import numpy as np
import pandas as pd
import pytest

from social_xlstm.data.format.reader import load_dataset
from social_xlstm.data.importers import tabular
from social_xlstm.data.importers.common.archives import is_archive, unpack
from social_xlstm.data.importers.common.files import expand_sources
from social_xlstm.errors import DataError

from .conftest import namespace

WIDE = "timestamp,A,B\n2024-01-01T00:00Z,1,2\n2024-01-01T00:05Z,3,4\n2024-01-01T00:10Z,5,6\n"
EDGES = "0 1 0.5\n1 0 0.5\n"


def _zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _tar(path, members: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _seven(path, members: dict[str, bytes]):
    py7zr = pytest.importorskip("py7zr")
    with py7zr.SevenZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(data, name)
    return path


def _gz(path, members: dict[str, bytes]):
    (data,) = members.values()
    path.write_bytes(gzip.compress(data))
    return path


@pytest.mark.parametrize(
    "pack, name", [(_zip, "release.zip"), (_tar, "release.tar.gz"), (_seven, "release.7z"), (_gz, "speed.csv.gz")]
)
def test_an_archive_stands_for_the_files_inside(tmp_path, pack, name):
    members = {"release/speed.csv": WIDE.encode()} if pack is not _gz else {"speed.csv": WIDE.encode()}
    archive = pack(tmp_path / name, members)
    assert is_archive(archive)
    (tmp_path / "adj.txt").write_text(EDGES)
    args = namespace(tabular.add_arguments, "wide", variable="speed", edges=str(tmp_path / "adj.txt"))
    dataset = load_dataset(tabular.run([str(archive)], str(tmp_path / "ds"), args))
    obs = pd.read_parquet(dataset.observation_files[0]).sort_values(["timestamp", "vd_id"])
    np.testing.assert_array_equal(obs["speed"].to_numpy(), [1, 2, 3, 4, 5, 6])


def test_a_folder_of_archives_and_files_expands_to_all_of_them(tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    _zip(folder / "a.zip", {"a/1.csv": b"x\n", "__MACOSX/a/._1.csv": b"junk", "a/.hidden": b"h"})
    (folder / "b.csv").write_text("y\n")
    files = expand_sources([folder])
    assert [f.name for f in files] == ["1.csv", "b.csv"] and files[0].read_text() == "x\n"


def test_a_numpy_npz_is_not_unpacked(tmp_path):
    np.savez(tmp_path / "pems04.npz", data=np.zeros((2, 3, 1)))
    assert not is_archive(tmp_path / "pems04.npz")
    assert expand_sources([tmp_path / "pems04.npz"]) == [tmp_path / "pems04.npz"]


@pytest.mark.parametrize("member", ["../evil.csv", "/etc/evil.csv", "a/../../evil.csv"])
def test_members_that_would_leave_the_folder_are_refused(tmp_path, member):
    for pack, name in ((_zip, "x.zip"), (_tar, "x.tar.gz")):
        with pytest.raises(DataError, match=r"would be written outside the archive's folder; refused"):
            unpack(pack(tmp_path / name, {member: b"x\n"}))
    assert not (tmp_path.parent / "evil.csv").exists()


def test_links_nested_archives_empty_and_corrupt_archives_are_refused(tmp_path):
    with tarfile.open(tmp_path / "link.tar", "w") as archive:
        info = tarfile.TarInfo("data.csv")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(info)
    with pytest.raises(DataError, match=r"member 'data.csv' is a link or device, not a file; refused"):
        unpack(tmp_path / "link.tar")
    inner = _zip(tmp_path / "inner.zip", {"a.csv": b"x\n"}).read_bytes()
    with pytest.raises(DataError, match=r"holds another archive \(inner.zip\); unpack it yourself"):
        unpack(_zip(tmp_path / "outer.zip", {"inner.zip": inner}))
    with pytest.raises(DataError, match=r"the archive holds no files"):
        unpack(_zip(tmp_path / "empty.zip", {}))
    good = _zip(tmp_path / "good.zip", {"a.csv": b"x\n" * 1000}).read_bytes()
    (tmp_path / "cut.zip").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"cut.zip: not a readable zip archive"):
        unpack(tmp_path / "cut.zip")


def test_the_unpacked_size_is_bounded(tmp_path, monkeypatch):
    from social_xlstm.data.importers.common import archives

    monkeypatch.setattr(archives, "MAX_UNPACKED", 1000)
    with pytest.raises(DataError, match=r"unpacks to more than"):
        unpack(_zip(tmp_path / "bomb.zip", {"a.csv": b"0" * 5000}))
