"""``social-xlstm serve`` before any model loads: help, the missing-extra message, errors that exit 2."""

import socket
import sys

import pytest

from social_xlstm.cli import main


def test_serve_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--checkpoint", "--host", "--port", "--state", "--mode"):
        assert option in out


@pytest.mark.parametrize("module", ["fastapi", "uvicorn"])
def test_missing_extra_says_how_to_install(module, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    assert main(["serve", "--checkpoint", "model.ckpt"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'social-xlstm[serve]'" in err and module in err
    assert "Traceback" not in err


def test_missing_checkpoint_exits_2(tmp_path, capsys):
    pytest.importorskip("fastapi", reason="the serve extra is needed to reach the checkpoint")
    assert main(["serve", "--checkpoint", str(tmp_path / "nope.ckpt"), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "nope.ckpt" in err and "Traceback" not in err


def test_port_in_use_exits_2_naming_the_address(tmp_path, capsys):
    pytest.importorskip("fastapi", reason="the serve extra is checked first")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--checkpoint", str(tmp_path / "m.ckpt"), "--port", str(port)]) == 2
    assert f"127.0.0.1:{port}" in capsys.readouterr().err
