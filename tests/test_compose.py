"""docker-compose.yml is valid compose, and every command in it names something this project has.

There is no Docker engine here, so nothing is started: the file is checked against the compose
specification's schema, each command against the module, management command or Celery app it names
(and against the real command-line parser of gunicorn, manage.py and celery), and the Dockerfile's CMD
against the web service.
"""

from __future__ import annotations

import ast
import functools
import importlib
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from celery import Celery
from django.conf import settings
from django.core.management import CommandError, get_commands, load_command_class
from django.urls import Resolver404, resolve

ROOT = Path(settings.BASE_DIR)
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
BIN = Path(sys.executable).parent

# Services that run someone else's image, and the programs those images bring.
THIRD_PARTY_IMAGES = {
    "redis": (re.compile(r"^redis:\d+(\.\d+)*(-[\w.]+)?$"), {"redis-server", "redis-cli"}),
    "postgres": (re.compile(r"^postgres:\d+(\.\d+)*(-[\w.]+)?$"), {"pg_isready", "postgres"}),
}
CELERY_SUBCOMMANDS = {"worker", "beat", "inspect"}
WSGI_APP = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")  # module:attribute, not host:port


@functools.cache
def compose() -> dict[str, Any]:
    # safe_load resolves the `<<: *kennel` merges, as Compose does.
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def as_argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def healthcheck_argv(test: str | list[str]) -> list[str]:
    """A healthcheck's ``test`` as the argv it runs (``CMD-SHELL`` strings are split like a shell would)."""
    argv = as_argv(test)
    if argv and argv[0] == "CMD":
        return argv[1:]
    if argv and argv[0] == "CMD-SHELL":
        return shlex.split(" ".join(argv[1:]))
    return argv


def option_value(argv: list[str], *names: str) -> str | None:
    for index, part in enumerate(argv):
        for name in names:
            if part == name and index + 1 < len(argv):
                return argv[index + 1]
            if part.startswith(name + "="):
                return part.split("=", 1)[1]
    return None


def problems_of(argv: list[str]) -> list[str]:
    """What is wrong with a command that runs in Kennel's own image; empty when it names real things."""
    if not argv:
        return ["empty command"]
    program, args = argv[0], argv[1:]
    if program == "gunicorn":
        return _gunicorn_problems(args)
    if program == "python" and args[:1] == ["manage.py"]:
        return _manage_py_problems(args[1:])
    if program == "python" and args[:1] == ["-c"]:
        return _python_code_problems(" ".join(args[1:2]))
    if program == "celery":
        return _celery_problems(args)
    return [f"{program!r} is not a program Kennel's image runs (gunicorn, python manage.py, celery)"]


def _gunicorn_problems(args: list[str]) -> list[str]:
    specs = [a for a in args if WSGI_APP.match(a)]
    if len(specs) != 1:
        return [f"gunicorn needs exactly one module:attribute, found {specs}"]
    module_name, attribute = specs[0].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        return [f"gunicorn app {specs[0]}: cannot import {module_name}: {error}"]
    if not callable(getattr(module, attribute, None)):
        return [f"gunicorn app {specs[0]}: {module_name} has no callable {attribute!r}"]
    return []


def _manage_py_problems(args: list[str]) -> list[str]:
    if not args:
        return ["python manage.py without a command"]
    name, options = args[0], args[1:]
    commands = get_commands()
    if name not in commands:
        return [f"manage.py has no command {name!r}"]
    # The command's own parser: an option it does not know is an error here, as it would be in the container.
    parser = load_command_class(commands[name], name).create_parser("manage.py", name)
    try:
        parser.parse_args(options)
    except CommandError as error:
        return [f"manage.py {name}: {error}"]
    return []


def _python_code_problems(code: str) -> list[str]:
    try:
        ast.parse(code)
    except SyntaxError as error:
        return [f"python -c: {error}"]
    problems = []
    for path in re.findall(r"https?://[^/'\"]+(/[^'\"\s]*)", code):
        try:
            resolve(path.split("?")[0])
        except Resolver404:
            problems.append(f"python -c asks for {path}, which no Kennel URL matches")
    return problems


def _celery_problems(args: list[str]) -> list[str]:
    app_name = option_value(args, "-A", "--app")
    if app_name is None:
        return ["celery without -A/--app"]
    try:
        package = importlib.import_module(app_name)
    except ImportError as error:
        return [f"celery -A {app_name}: {error}"]
    problems = []
    if not isinstance(getattr(package, "celery_app", None), Celery):
        problems.append(f"celery -A {app_name}: {app_name}.celery_app is not a Celery app")
    subcommands = [a for a in args if a in CELERY_SUBCOMMANDS]
    if not subcommands:
        problems.append(f"celery {' '.join(args)}: none of {sorted(CELERY_SUBCOMMANDS)}")
    return problems


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def commands_of(name: str) -> list[list[str]]:
    """Every argv a service runs: its command and its healthcheck."""
    service = services()[name]
    found = []
    if "command" in service:
        found.append(as_argv(service["command"]))
    if "healthcheck" in service and not service["healthcheck"].get("disable"):
        found.append(healthcheck_argv(service["healthcheck"]["test"]))
    return found


def dockerfile_cmd() -> list[str]:
    lines = [line for line in DOCKERFILE.read_text(encoding="utf-8").splitlines() if line.startswith("CMD ")]
    assert len(lines) == 1, f"the Dockerfile should have one CMD, has {len(lines)}"
    return json.loads(lines[0][4:])  # the exec (JSON) form: no shell between Docker and gunicorn


OWN_SERVICES = sorted(name for name, service in services().items() if "build" in service)
IMAGE_SERVICES = sorted(name for name, service in services().items() if "build" not in service)


def test_the_file_follows_the_compose_specification():
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", COMPOSE_FILE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_has_the_services_kennel_needs():
    assert {"web", "beat", "redis", "postgres"} <= set(services())
    assert {"web", "beat"} <= set(OWN_SERVICES)


def test_every_celery_queue_has_a_worker_service():
    consumed = set()
    for name in OWN_SERVICES:
        for argv in commands_of(name):
            if argv[:1] == ["celery"] and "worker" in argv:
                queues = option_value(argv, "-Q", "--queues")
                assert queues, f"{name} consumes no named queue (-Q)"
                consumed |= set(queues.split(","))
    assert consumed == set(settings.KENNEL_TASK_QUEUES)


@pytest.mark.parametrize("name", OWN_SERVICES)
def test_each_command_of_our_services_names_something_the_project_has(name):
    service = services()[name]
    assert "command" in service or dockerfile_cmd(), f"{name} runs nothing"
    problems = [problem for argv in commands_of(name) for problem in problems_of(argv)]
    assert not problems, f"service {name}: " + "; ".join(problems)


@pytest.mark.parametrize("name", IMAGE_SERVICES)
def test_third_party_services_run_an_allowed_image(name):
    assert name in THIRD_PARTY_IMAGES, f"{name} runs image {services()[name].get('image')!r}: not ours"
    image_pattern, programs = THIRD_PARTY_IMAGES[name]
    assert image_pattern.match(services()[name]["image"]), services()[name]["image"]
    for argv in commands_of(name):
        assert argv and argv[0] in programs, f"{name} runs {argv}, not one of {sorted(programs)}"


@pytest.mark.parametrize("name", OWN_SERVICES)
def test_our_commands_pass_their_programs_own_argument_check(name):
    """gunicorn, celery and manage.py parse the very options the file gives them.

    The container's environment (production mode, secrets) is not reproduced: only parsing is
    checked, with this checkout's development settings.
    """
    for argv in commands_of(name):
        if argv[0] == "gunicorn":
            check = [BIN / "gunicorn", "--check-config", *argv[1:]]
        elif argv[0] == "celery":
            check = [BIN / "celery", *argv[1:], "--help"]
        else:
            continue  # manage.py commands are parsed in-process above; python -c is compiled there
        result = subprocess.run(check, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
        assert result.returncode == 0, f"{name}: {shlex.join(map(str, check))}\n{result.stderr[-2000:]}"


def test_references_between_services_secrets_and_volumes_resolve():
    data = compose()
    problems = []
    for name, service in services().items():
        depends_on = service.get("depends_on", {})
        if isinstance(depends_on, list):  # the short form: names only
            depends_on = dict.fromkeys(depends_on)
        for other, spec in depends_on.items():
            waits_for_health = (spec or {}).get("condition") == "service_healthy"
            if other not in services():
                problems.append(f"{name} depends on unknown service {other}")
            elif waits_for_health and "healthcheck" not in services()[other]:
                problems.append(f"{name} waits for {other} to be healthy, but {other} has no healthcheck")
        for secret in service.get("secrets", []):
            secret_name = secret if isinstance(secret, str) else secret["source"]
            if secret_name not in data.get("secrets", {}):
                problems.append(f"{name} uses undeclared secret {secret_name}")
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/", "~")) and source not in data.get("volumes", {}):
                problems.append(f"{name} mounts undeclared volume {source}")
    assert not problems, "; ".join(problems)


def test_the_dockerfile_serves_the_web_services_app():
    assert DOCKERFILE.is_file()
    # `python manage.py ...` runs in the image's WORKDIR, which is a copy of this checkout.
    assert (ROOT / "manage.py").is_file()
    cmd = dockerfile_cmd()
    web = as_argv(services()["web"]["command"])
    assert cmd[0] == web[0] == "gunicorn"
    assert [a for a in cmd if WSGI_APP.match(a)] == [a for a in web if WSGI_APP.match(a)]
    assert not problems_of(cmd)


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["gunicorn", "kennel.wsgi:aplication", "--bind", "0.0.0.0:8000"], "no callable 'aplication'"),
        (["gunicorn", "portal.wsgy:application"], "cannot import portal.wsgy"),
        (["python", "manage.py", "migrat"], "no command 'migrat'"),
        (["python", "manage.py", "migrate", "--no-input-please"], "unrecognized arguments"),
        (["python", "-c", "import urllib.request; urllib.request.urlopen('http://x/nowhere/')"], "/nowhere/"),
        (["celery", "-A", "provisioning", "worker"], "provisioning.celery_app is not a Celery app"),
        (["celery", "-A", "kennel", "flower"], "none of"),
        (["uwsgi", "--http", ":8000"], "not a program"),
    ],
)
def test_the_checks_catch_a_broken_command(argv, complaint):
    assert complaint in " ".join(problems_of(argv))
