"""The client's parts that need no server: the config file, error texts, the status line, values."""

from __future__ import annotations

import io
import os
import stat

import pytest

from kennel_cli.client import reason_of
from kennel_cli.commands.quotas import parse_values
from kennel_cli.config import Config, config_load, config_save
from kennel_cli.errors import CliError, Exit
from kennel_cli.output import StatusLine


@pytest.fixture
def config_home(tmp_path, monkeypatch):
    for name in ("KENNEL_CONFIG", "KENNEL_URL", "KENNEL_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "kennel" / "config.json"


def test_the_config_file_is_created_0600_even_with_a_permissive_umask(config_home):
    previous = os.umask(0)
    try:
        path = config_save(Config(url="https://k.example", token="kn_secret", token_id=3, username="dev1"))
    finally:
        os.umask(previous)
    assert path == config_home
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert config_load() == Config(url="https://k.example", token="kn_secret", token_id=3, username="dev1")
    assert [p.name for p in path.parent.iterdir()] == ["config.json"]  # no temporary file left


def test_the_environment_overrides_the_file_and_a_readable_file_is_warned_about(
    config_home, monkeypatch, capsys
):
    config_save(Config(url="https://k.example", token="kn_saved"))
    config_home.chmod(0o644)
    monkeypatch.setenv("KENNEL_TOKEN", "kn_from_env")
    config = config_load()
    assert config.token == "kn_from_env" and config.url == "https://k.example"
    assert "chmod 600" in capsys.readouterr().err


def test_server_errors_read_as_sentences():
    assert reason_of({"detail": "Not allowed."}) == "Not allowed."
    assert reason_of({"image": ["No such image: 'x'."], "flavor": ["Too small."]}) == (
        "image: No such image: 'x'.\nflavor: Too small."
    )
    assert reason_of({"non_field_errors": ["Pick one."]}) == "Pick one."
    assert reason_of({"ssh_keys": {"0": ["Bad key."]}}) == "ssh_keys: 0: Bad key."


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_status_line_rewrites_itself_on_a_terminal_only(capsys):
    terminal = Terminal()
    line = StatusLine(terminal)
    line.update("building web1 3 s")
    line.update("building web1 4 s")
    line.note("12:00:01  active    Active on x2.")
    assert terminal.getvalue() == "\r\033[Kbuilding web1 3 s\r\033[Kbuilding web1 4 s\r\033[K"
    assert capsys.readouterr().out == "12:00:01  active    Active on x2.\n"
    log = io.StringIO()
    quiet = StatusLine(log)
    quiet.update("building")
    quiet.clear()
    assert log.getvalue() == ""


def test_quota_values_are_whole_non_negative_numbers():
    assert parse_values(["cores=64", "ram_mb=131072"]) == {"cores": 64, "ram_mb": 131072}
    for bad in ("cores", "cores=lots", "=4", "cores=-1"):
        with pytest.raises(CliError) as refused:
            parse_values([bad])
        assert refused.value.code == Exit.USAGE
