"""``kennel completion bash|zsh``: the scripts parse, and bash completes what the parser defines."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.cli.conftest import KENNEL


def script(shell: str) -> str:
    done = subprocess.run([str(KENNEL), "completion", shell], capture_output=True, text=True, check=True)
    return done.stdout


def complete(line: str) -> list[str]:
    """What bash offers for Tab at the end of ``line``, through the generated script and COMP_WORDS."""
    words = line.split(" ")
    program = (
        script("bash")
        + "\nCOMP_WORDS=("
        + " ".join(f"'{w}'" for w in words)
        + f")\nCOMP_CWORD={len(words) - 1}\n_kennel\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n"
    )
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return sorted(filter(None, done.stdout.splitlines()))


def test_the_bash_script_parses_and_registers_itself():
    text = script("bash")
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)
    assert "complete -o default -F _kennel kennel" in text


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("kennel vm re", ["reboot", "request"]),
        ("kennel h", ["host"]),
        ("kennel request a", ["answer", "approve", "ask"]),
        ("kennel vm request --fl", ["--flavor"]),
        ("kennel vm request --image cirros --wa", ["--wait", "--wait-timeout"]),
        ("kennel host power x9 ", ["cycle", "hard_off", "on", "reset", "soft_off"]),
        ("kennel vm list --status d", ["deleted", "deleting"]),
        ("kennel completion ", ["bash", "zsh"]),
    ],
)
def test_bash_completes_commands_options_and_choices(line, expected):
    assert complete(line) == expected


def test_hidden_options_are_not_offered():
    assert "--interval" not in complete("kennel vm request --")


def test_the_zsh_script_loads_the_same_completion_through_bashcompinit():
    text = script("zsh")
    assert text.startswith("#compdef kennel\n") and "bashcompinit" in text
    assert script("bash") in text
    if shutil.which("zsh"):
        subprocess.run(["zsh", "-n"], input=text, text=True, check=True)
