import io

from social_xlstm.progress import progress_enabled


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_at_a_terminal_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert progress_enabled(_Tty()) is True
    assert progress_enabled(io.StringIO()) is False  # piped or a log file
    monkeypatch.setenv("CI", "true")
    assert progress_enabled(_Tty()) is False
