"""``kennel completion bash|zsh``: the scripts parse, and bash completes what the parser defines."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.cli.console_script import KENNEL


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
        ("kennel vm re", ["reboot", "rebuild", "request", "resize", "revert-resize"]),
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


def complete_in_zsh(line: str) -> list[str]:
    """What zsh's bashcompinit layer gets from the script for ``line`` (zsh's compadd then filters by
    the typed prefix, as in a real completion)."""
    words = line.split(" ")
    quoted = " ".join(f"'{w}'" for w in words)
    program = (
        script("zsh")
        + f"\nwords=({quoted}); CURRENT={len(words)}; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}\n"
        + f"compgen -F _kennel -- '{words[-1]}'\n"
    )
    done = subprocess.run(["zsh", "-f", "-c", program], capture_output=True, text=True, check=True)
    return sorted(word for word in done.stdout.splitlines() if word.startswith(words[-1]))


def test_the_zsh_script_completes_through_bashcompinit():
    if not shutil.which("zsh"):
        pytest.fail("zsh is missing: apt-get install zsh (make bootstrap does)")
    text = script("zsh")
    assert text.startswith("#compdef kennel\n") and script("bash") in text
    subprocess.run(["zsh", "-n"], input=text, text=True, check=True)
    # zsh arrays count from 1, bash's from 0: these find the right command path only if the layer works.
    assert complete_in_zsh("kennel vm re") == ["reboot", "rebuild", "request", "resize", "revert-resize"]
    assert complete_in_zsh("kennel host power x9 ") == ["cycle", "hard_off", "on", "reset", "soft_off"]
    assert complete_in_zsh("kennel vm request --fl") == ["--flavor"]
