"""Start, stop and report on the devcloud: ``devcloud/run start|stop|status``, and stop or start one
service of a running cloud: ``devcloud/run stop-service|start-service NAME`` (fault tests).

Standard library only: this module runs with the machine's python3 before the
devcloud's virtualenv exists, and installs that virtualenv on first use.

Every service runs in its own session (so its own process group): nova's
conductor and scheduler fork workers that outlive a killed parent, and a
group is what gets signalled on stop. Runtime state lives in var/devcloud/.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

SRC = Path(__file__).resolve().parent
DEVCLOUD = SRC.parent.parent  # the devcloud/ folder of the repository
REPO = DEVCLOUD.parent
ROOT = Path(os.environ.get("DEVCLOUD_ROOT", REPO / "var" / "devcloud"))
VENV = ROOT / "venv"
ETC, DATA, LOG, RUN, STAMPS = (ROOT / d for d in ("etc", "data", "log", "run", "stamps"))
TEMPLATES = DEVCLOUD / "templates"
CLOUDS_YAML = ROOT / "clouds.yaml"

# A second cloud (the benchmarks' one, under var/benchcloud) runs beside the first with its own root
# (DEVCLOUD_ROOT) and every port moved by DEVCLOUD_PORT_OFFSET; DEVCLOUD_VENV lends it an installed venv.
PORT_OFFSET = int(os.environ.get("DEVCLOUD_PORT_OFFSET", "0"))
if "DEVCLOUD_VENV" in os.environ:
    VENV = Path(os.environ["DEVCLOUD_VENV"])
PORTS = {
    "epmd": 34369,
    "mariadb": 13306,
    "rabbitmq": 35672,
    "rabbitmq-dist": 35673,
    "keystone": 5000,
    "placement": 8778,
    "nova-api": 8774,
    "glance": 9292,
    "neutron": 9696,
    "cinder": 8776,
    "nova-novncproxy": 6080,
}
PORTS = {name: port + PORT_OFFSET for name, port in PORTS.items()}
# The first cloud's RabbitMQ node keeps its name (its Mnesia folder is named after it).
RABBITMQ_NODE = f"devcloud{PORT_OFFSET or ''}@localhost"
KEYSTONE_URL = f"http://127.0.0.1:{PORTS['keystone']}/v3"

# The team's compute hosts. p1 is a Power8 (SMT8): 20 cores x 8 threads.
COMPUTE_HOSTS = {
    "x2": dict(
        architecture="x86_64",
        vcpus=32,
        memory_mb=262144,
        local_gb=1800,
        cpu_model="Cascadelake-Server",
        cpu_vendor="Intel",
        sockets=2,
        cores=16,
        threads=1,
    ),
    "x3": dict(
        architecture="x86_64",
        vcpus=32,
        memory_mb=262144,
        local_gb=1800,
        cpu_model="Cascadelake-Server",
        cpu_vendor="Intel",
        sockets=2,
        cores=16,
        threads=1,
    ),
    "x4": dict(
        architecture="x86_64",
        vcpus=32,
        memory_mb=262144,
        local_gb=1800,
        cpu_model="Cascadelake-Server",
        cpu_vendor="Intel",
        sockets=2,
        cores=16,
        threads=1,
    ),
    "p1": dict(
        architecture="ppc64le",
        vcpus=160,
        memory_mb=524288,
        local_gb=1800,
        cpu_model="POWER8",
        cpu_vendor="IBM",
        sockets=2,
        cores=10,
        threads=8,
    ),
}
RESERVED_HOST_MEMORY_MB = 4096
DATABASES = ("keystone", "placement", "nova_api", "nova", "nova_cell0", "glance", "neutron")


def cinder_enabled() -> bool:
    """Cinder is opt-in: it adds ~450 MiB to a cloud that must fit in 2 GiB.

    ``DEVCLOUD_CINDER=1`` turns it on and ``DEVCLOUD_CINDER=0`` off; the choice
    is remembered in the run folder so later commands need no variable.
    """
    flag = STAMPS / "cinder"
    setting = os.environ.get("DEVCLOUD_CINDER")
    if setting == "1":
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.touch()
    elif setting == "0":
        flag.unlink(missing_ok=True)
    return flag.exists()


def databases() -> tuple[str, ...]:
    return DATABASES + (("cinder",) if cinder_enabled() else ())


APT_PACKAGES = ("mariadb-server", "rabbitmq-server", "novnc")
# noVNC's web client, which nova-novncproxy serves (websockify, the proxy itself, comes with Nova).
NOVNC_WEB = Path("/usr/share/novnc")


# --------------------------------------------------------------------------- services


@dataclasses.dataclass
class Service:
    """One supervised process group."""

    name: str
    argv: list[str]
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    port: int | None = None
    http: bool = False  # readiness is an HTTP answer below 500 on "/"
    stop_timeout: float = 15.0

    @property
    def pidfile(self) -> Path:
        return RUN / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return LOG / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of the group leader if it is alive, else None."""
        try:
            pid = int(self.pidfile.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if group_members(pid) and _is_alive(pid) else None


def _is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live pids whose process group is ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def gunicorn(name: str, module: str, port: int, config_env: dict[str, str], extra: list[str] = ()) -> Service:
    argv = [
        str(VENV / "bin" / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        "--timeout",
        "300",
        "--graceful-timeout",
        "5",
        # gunicorn closes an idle kept-alive connection after 2 s by default: exactly the SDK's poll
        # interval (wait_for_status, 2 s), so a poll could reuse a connection the API was closing and
        # fail with "Remote end closed connection without response". Clouds keep them far longer.
        "--keep-alive",
        "75",
        "--name",
        f"devcloud-{name}",
        "--error-logfile",
        "-",
        *extra,
        "kennel_devcloud.wsgi:application",
    ]
    return Service(name, argv, env={"DEVCLOUD_WSGI_MODULE": module, **config_env}, port=port, http=True)


def infrastructure_services() -> list[Service]:
    rabbit_env = {
        "HOME": str(DATA / "rabbitmq"),  # where Erlang keeps its cookie
        "RABBITMQ_NODENAME": RABBITMQ_NODE,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(PORTS["rabbitmq"]),
        "RABBITMQ_DIST_PORT": str(PORTS["rabbitmq-dist"]),
        "ERL_EPMD_PORT": str(PORTS["epmd"]),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_CONF_ENV_FILE": str(ETC / "rabbitmq" / "rabbitmq-env.conf"),
        "RABBITMQ_CONFIG_FILE": str(ETC / "rabbitmq" / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(ETC / "rabbitmq" / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(DATA / "rabbitmq" / "mnesia"),
        "RABBITMQ_LOG_BASE": str(LOG / "rabbitmq-internal"),
        "RABBITMQ_LOGS": "-",
        "RABBITMQ_PID_FILE": str(DATA / "rabbitmq" / "beam.pid"),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "+S 1:1 +SDio 2 +A 4 +sbwt none +sbwtdcpu none +sbwtdio none",
    }
    return [
        # epmd runs in the foreground under our supervision; otherwise Erlang
        # would daemonize its own and leave it behind after a stop.
        Service(
            "epmd",
            ["epmd", "-port", str(PORTS["epmd"]), "-address", "127.0.0.1"],
            env={"ERL_EPMD_ADDRESS": "127.0.0.1"},
            port=PORTS["epmd"],
            stop_timeout=5,
        ),
        Service(
            "mariadb",
            ["mariadbd", f"--defaults-file={ETC / 'mysql' / 'my.cnf'}"],
            port=PORTS["mariadb"],
            stop_timeout=30,
        ),
        Service(
            "rabbitmq",
            ["/usr/lib/rabbitmq/bin/rabbitmq-server"],
            env=rabbit_env,
            port=PORTS["rabbitmq"],
            stop_timeout=30,
        ),
    ]


def openstack_services() -> list[Service]:
    nova_env = {"OS_NOVA_CONFIG_DIR": str(ETC / "nova"), "OS_NOVA_CONFIG_FILES": "api-paste.ini;nova.conf"}
    return [
        gunicorn(
            "keystone",
            "keystone.wsgi.api",
            PORTS["keystone"],
            {"OS_KEYSTONE_CONFIG_DIR": str(ETC / "keystone"), "OS_KEYSTONE_CONFIG_FILES": "keystone.conf"},
        ),
        gunicorn(
            "placement",
            "placement.wsgi.api",
            PORTS["placement"],
            {"OS_PLACEMENT_CONFIG_DIR": str(ETC / "placement")},
        ),
        gunicorn("glance", "glance.wsgi.api", PORTS["glance"], {"OS_GLANCE_CONFIG_DIR": str(ETC / "glance")}),
        # Nova lists a project's ports in one GET whose URI outgrows gunicorn's
        # default 4 KiB request line at ~150 servers: no limit for Neutron.
        gunicorn(
            "neutron",
            "neutron.wsgi.api",
            PORTS["neutron"],
            {"OS_NEUTRON_CONFIG_DIR": str(ETC / "neutron"), "OS_NEUTRON_CONFIG_FILES": "neutron.conf"},
            extra=["--limit-request-line", "0"],
        ),
        gunicorn("nova-api", "nova.wsgi.osapi_compute", PORTS["nova-api"], nova_env),
    ]


def nova_services() -> list[Service]:
    """Nova's daemons: they authenticate at start, so they follow the identity seed."""
    nova_conf = ["--config-file", str(ETC / "nova" / "nova.conf")]
    return [
        # nova-conductor and nova-scheduler share one process (see launchers.py).
        Service("nova-conductor-scheduler", [str(VENV / "bin" / "kennel-devcloud-nova-control"), *nova_conf]),
        # The console proxy behind the URLs Nova hands out ([vnc] in nova.conf): it serves noVNC's page
        # and checks each console token against Nova's database.
        Service(
            "nova-novncproxy",
            [str(VENV / "bin" / "nova-novncproxy"), *nova_conf, "--web", str(NOVNC_WEB)],
            port=PORTS["nova-novncproxy"],
            http=True,
        ),
    ] + [
        Service(
            f"nova-compute-{host}",
            [
                str(VENV / "bin" / "kennel-devcloud-compute"),
                "--config-file",
                str(ETC / "nova" / f"compute-{host}.conf"),
            ],
            stop_timeout=30,
        )
        for host in COMPUTE_HOSTS
    ]


def cinder_api_service() -> Service:
    # Cinder's WSGI app finds its config only on the command line.
    return gunicorn(
        "cinder-api",
        "cinder.wsgi.api",
        PORTS["cinder"],
        {"DEVCLOUD_WSGI_ARGS": f"--config-file {ETC / 'cinder' / 'cinder.conf'}"},
    )


def cinder_daemons() -> list[Service]:
    cinder_conf = ["--config-file", str(ETC / "cinder" / "cinder.conf")]
    return [
        Service("cinder-scheduler", [str(VENV / "bin" / "cinder-scheduler"), *cinder_conf]),
        Service("cinder-volume", [str(VENV / "bin" / "kennel-devcloud-cinder-volume"), *cinder_conf]),
    ]


def all_services(*, with_cinder: bool | None = None) -> list[Service]:
    if with_cinder is None:
        with_cinder = cinder_enabled()
    cinder = [cinder_api_service(), *cinder_daemons()] if with_cinder else []
    return infrastructure_services() + openstack_services() + nova_services() + cinder


# --------------------------------------------------------------------------- helpers


def say(msg: str) -> None:
    print(f"devcloud: {msg}", flush=True)


class StartError(RuntimeError):
    def __init__(self, message: str, service: Service | None = None):
        super().__init__(message)
        self.service = service


def run(
    argv: list[str], *, env: dict[str, str] | None = None, log: Path | None = None, check: bool = True
) -> int:
    """Run a command to completion, its output appended to ``log`` (or inherited)."""
    full_env = {**os.environ, **(env or {})}
    if log:
        with log.open("ab") as out:
            out.write(f"\n$ {' '.join(argv)}\n".encode())
            out.flush()
            rc = subprocess.call(
                argv, env=full_env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
    else:
        rc = subprocess.call(argv, env=full_env, stdin=subprocess.DEVNULL)
    if check and rc != 0:
        where = f"; see {log}" if log else ""
        raise StartError(f"{' '.join(argv)} exited {rc}{where}", _pseudo_service(log))
    return rc


def _pseudo_service(log: Path | None) -> Service | None:
    if log is None:
        return None
    return Service(log.stem, [])


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            return response.status < 500
    except urllib.error.HTTPError as e:
        return e.code < 500
    except (OSError, urllib.error.URLError):
        return False


def is_ready(service: Service) -> bool:
    if service.port is None:
        return service.pid() is not None
    return http_ready(service.port) if service.http else port_open(service.port)


def venv_python() -> str:
    return str(VENV / "bin" / "python")


def fingerprint(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts or file.suffix == ".pyc" or ".egg-info" in str(file):
                continue
            digest.update(str(file.relative_to(DEVCLOUD)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def stamp_ok(name: str, value: str) -> bool:
    path = STAMPS / name
    return path.exists() and path.read_text() == value


def stamp_write(name: str, value: str) -> None:
    (STAMPS / name).write_text(value)


# --------------------------------------------------------------------------- install


def install() -> None:
    """Install Debian packages and the virtualenv unless already current."""
    present = (shutil.which("mariadbd"), shutil.which("epmd"), (NOVNC_WEB / "vnc_lite.html").exists())
    missing = [pkg for pkg, found in zip(APT_PACKAGES, present, strict=True) if not found]
    if not Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists() and "rabbitmq-server" not in missing:
        missing.append("rabbitmq-server")
    if missing:
        say(f"installing {' '.join(missing)} with apt-get")
        apt_env = {"DEBIAN_FRONTEND": "noninteractive"}
        log = LOG / "install.log"
        run(["apt-get", "update"], env=apt_env, log=log)
        run(["apt-get", "install", "-y", "--no-install-recommends", *missing], env=apt_env, log=log)

    wanted = fingerprint(
        DEVCLOUD / "constraints.txt", DEVCLOUD / "requirements.txt", DEVCLOUD / "pyproject.toml"
    )
    if stamp_ok("venv", wanted) and (VENV / "bin" / "kennel-devcloud-nova-control").exists():
        return
    if "DEVCLOUD_VENV" in os.environ and (VENV / "bin" / "kennel-devcloud-nova-control").exists():
        return  # another cloud's venv, lent as it is (never installed into from here)
    say(f"installing the OpenStack services into {VENV} (first use)")
    log = LOG / "install.log"
    if not (VENV / "bin" / "python").exists():
        run([sys.executable, "-m", "venv", str(VENV)], log=log)
    constraints = str(DEVCLOUD / "constraints.txt")
    run([venv_python(), "-m", "pip", "install", "--quiet", "-c", constraints, "uv"], log=log)
    run(
        [
            str(VENV / "bin" / "uv"),
            "pip",
            "install",
            "--python",
            venv_python(),
            "-c",
            constraints,
            "-r",
            str(DEVCLOUD / "requirements.txt"),
            "-e",
            str(DEVCLOUD),
        ],
        log=log,
    )
    stamp_write("venv", wanted)


# --------------------------------------------------------------------------- configuration


def load_secrets() -> dict[str, str]:
    """Passwords for this run folder, made once and kept in var/devcloud/secrets.json."""
    path = ROOT / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {name: secrets.token_hex(12) for name in ("db", "service", "admin", "alpha", "beta")}
    path.write_text(json.dumps(values, indent=2))
    path.chmod(0o600)
    return values


def render(template: str, target: Path, values: dict[str, str]) -> None:
    text = string.Template((TEMPLATES / template).read_text()).substitute(values)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


def render_configs(secret: dict[str, str]) -> None:
    values = {
        "root": str(ROOT),
        "data": str(DATA),
        "log": str(LOG),
        "run": str(RUN),
        "venv": str(VENV),
        "mariadb_port": str(PORTS["mariadb"]),
        "rabbitmq_port": str(PORTS["rabbitmq"]),
        "db_url": f"mysql+pymysql://devcloud:{secret['db']}@127.0.0.1:{PORTS['mariadb']}",
        "transport_url": f"rabbit://guest:guest@127.0.0.1:{PORTS['rabbitmq']}/",
        "keystone_url": KEYSTONE_URL,
        "novncproxy_port": str(PORTS["nova-novncproxy"]),
        "service_password": secret["service"],
    }
    values["nova_clients"] = string.Template((TEMPLATES / "nova-clients.conf").read_text()).substitute(values)
    render("my.cnf", ETC / "mysql" / "my.cnf", values)
    render("rabbitmq.conf", ETC / "rabbitmq" / "rabbitmq.conf", values)
    render("rabbitmq-env.conf", ETC / "rabbitmq" / "rabbitmq-env.conf", values)
    (ETC / "rabbitmq" / "enabled_plugins").write_text("[].\n")
    render("keystone.conf", ETC / "keystone" / "keystone.conf", values)
    render("placement.conf", ETC / "placement" / "placement.conf", values)
    render("nova.conf", ETC / "nova" / "nova.conf", values)
    # nova's WSGI app loads its paste pipeline from the first of its config files.
    shutil.copyfile(VENV / "etc" / "nova" / "api-paste.ini", ETC / "nova" / "api-paste.ini")
    for host, spec in COMPUTE_HOSTS.items():
        host_values = {
            **values,
            **{k: str(v) for k, v in spec.items()},
            "host": host,
            "reserved_host_memory_mb": str(RESERVED_HOST_MEMORY_MB),
        }
        render("nova-compute.conf", ETC / "nova" / f"compute-{host}.conf", host_values)
        (DATA / f"nova-compute-{host}" / "instances").mkdir(parents=True, exist_ok=True)
    render("glance-api.conf", ETC / "glance" / "glance-api.conf", values)
    render("neutron.conf", ETC / "neutron" / "neutron.conf", values)
    if cinder_enabled():
        render("cinder.conf", ETC / "cinder" / "cinder.conf", values)
        (DATA / "cinder" / "lock").mkdir(parents=True, exist_ok=True)
    for sub in (
        "nova/lock",
        "glance/images",
        "glance/staging",
        "glance/tasks",
        "neutron/lock",
        "keystone",
        "rabbitmq/mnesia",
    ):
        (DATA / sub).mkdir(parents=True, exist_ok=True)
    write_clouds_yaml(secret)


def write_clouds_yaml(secret: dict[str, str]) -> None:
    """clouds.yaml for the portal and the tests (plain YAML written without a YAML library)."""
    clouds = {
        "kennel-admin": ("admin", "admin", secret["admin"]),
        "kennel-alpha": ("alpha", "alpha-member", secret["alpha"]),
        "kennel-beta": ("beta", "beta-member", secret["beta"]),
    }
    lines = ["# Written by devcloud/run start. Loopback-only development cloud.", "clouds:"]
    for cloud, (project, user, password) in clouds.items():
        lines += [
            f"  {cloud}:",
            "    auth:",
            f"      auth_url: {KEYSTONE_URL}",
            f"      username: {user}",
            f'      password: "{password}"',
            f"      project_name: {project}",
            "      user_domain_name: Default",
            "      project_domain_name: Default",
            "    region_name: RegionOne",
            "    identity_api_version: 3",
            "    interface: public",
        ]
    text = "\n".join(lines) + "\n"
    if not CLOUDS_YAML.exists() or CLOUDS_YAML.read_text() != text:
        CLOUDS_YAML.write_text(text)
        CLOUDS_YAML.chmod(0o600)


# --------------------------------------------------------------------------- process control


def spawn(service: Service) -> None:
    if service.pid():
        return
    if service.port and port_open(service.port):
        raise StartError(
            f"port {service.port} for {service.name} is taken by a process the devcloud did not start",
            service,
        )
    # Few malloc arenas: the threaded Python services otherwise grow one per thread.
    env = {
        **os.environ,
        **_source_env(),
        "MALLOC_ARENA_MAX": "1",
        "MALLOC_TRIM_THRESHOLD_": "131072",
        **service.env,
    }
    with service.logfile.open("ab") as out:
        out.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {' '.join(service.argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            service.argv,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=ROOT,
        )
    service.pidfile.write_text(str(proc.pid))


def wait_ready(services: list[Service], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(services)
    while pending:
        for service in list(pending):
            if service.pid() is None:
                raise StartError(f"{service.name} exited during start", service)
            if is_ready(service):
                pending.remove(service)
        if not pending:
            return
        if time.monotonic() > deadline:
            raise StartError(f"{pending[0].name} not ready after {timeout:.0f} s", pending[0])
        time.sleep(0.3)


def stop_group(services: list[Service]) -> None:
    """SIGTERM each service's process group at once, SIGKILL what outlives its timeout."""
    started = time.monotonic()
    running = {}
    for service in services:
        pid = service.pid()
        if pid is None:
            service.pidfile.unlink(missing_ok=True)
            continue
        say(f"stopping {service.name} (pid {pid})")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        running[service.name] = (service, pid)
    while running:
        for name, (service, pid) in list(running.items()):
            if not group_members(pid):
                service.pidfile.unlink(missing_ok=True)
                del running[name]
            elif time.monotonic() - started > service.stop_timeout:
                say(f"{service.name} ignored SIGTERM for {service.stop_timeout:.0f} s: SIGKILL")
                for member in group_members(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(member, signal.SIGKILL)
        time.sleep(0.2)


# --------------------------------------------------------------------------- bootstrap steps


def mariadb_prepare() -> None:
    if not (DATA / "mysql" / "mysql").exists():
        say("initialising the MariaDB data directory")
        run(
            [
                "mariadb-install-db",
                f"--defaults-file={ETC / 'mysql' / 'my.cnf'}",
                "--user=root",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            log=LOG / "mariadb.log",
        )


def mariadb_create_databases(secret: dict[str, str]) -> None:
    if stamp_ok("databases", ",".join(databases())):
        return
    sql = [f"CREATE DATABASE IF NOT EXISTS {db} CHARACTER SET utf8mb4;" for db in databases()]
    sql += [
        f"CREATE USER IF NOT EXISTS 'devcloud'@'127.0.0.1' IDENTIFIED BY '{secret['db']}';",
        f"ALTER USER 'devcloud'@'127.0.0.1' IDENTIFIED BY '{secret['db']}';",
        "GRANT ALL PRIVILEGES ON *.* TO 'devcloud'@'127.0.0.1';",
        "FLUSH PRIVILEGES;",
    ]
    subprocess.run(
        ["mariadb", f"--defaults-file={ETC / 'mysql' / 'my.cnf'}", "-uroot"],
        input="\n".join(sql),
        text=True,
        check=True,
    )
    stamp_write("databases", ",".join(databases()))


def database_migrations(secret: dict[str, str]) -> None:
    """Schema migrations and one-off bootstraps, in parallel, once per installed version."""
    version = fingerprint(DEVCLOUD / "constraints.txt")
    bin_ = VENV / "bin"
    keystone_conf = ["--config-file", str(ETC / "keystone" / "keystone.conf")]
    nova_conf = ["--config-file", str(ETC / "nova" / "nova.conf")]
    db_url = f"mysql+pymysql://devcloud:{secret['db']}@127.0.0.1:{PORTS['mariadb']}"
    chains = {
        "keystone": [
            [str(bin_ / "keystone-manage"), *keystone_conf, "db_sync"],
            [
                str(bin_ / "keystone-manage"),
                *keystone_conf,
                "fernet_setup",
                "--keystone-user",
                "root",
                "--keystone-group",
                "root",
            ],
            [
                str(bin_ / "keystone-manage"),
                *keystone_conf,
                "credential_setup",
                "--keystone-user",
                "root",
                "--keystone-group",
                "root",
            ],
            [
                str(bin_ / "keystone-manage"),
                *keystone_conf,
                "bootstrap",
                "--bootstrap-password",
                secret["admin"],
                "--bootstrap-admin-url",
                KEYSTONE_URL,
                "--bootstrap-internal-url",
                KEYSTONE_URL,
                "--bootstrap-public-url",
                KEYSTONE_URL,
                "--bootstrap-region-id",
                "RegionOne",
            ],
        ],
        "placement": [
            [
                str(bin_ / "placement-manage"),
                "--config-file",
                str(ETC / "placement" / "placement.conf"),
                "db",
                "sync",
            ]
        ],
        "nova": [
            [str(bin_ / "nova-manage"), *nova_conf, "api_db", "sync"],
            [
                str(bin_ / "nova-manage"),
                *nova_conf,
                "cell_v2",
                "map_cell0",
                "--database_connection",
                f"{db_url}/nova_cell0",
            ],
            # create_cell exits 2 when the cell exists already; that is fine.
            [
                "sh",
                "-c",
                f"'{bin_ / 'nova-manage'}' --config-file '{ETC / 'nova' / 'nova.conf'}' cell_v2 list_cells"
                f" | grep -q ' cell1 ' || '{bin_ / 'nova-manage'}' --config-file"
                f" '{ETC / 'nova' / 'nova.conf'}' cell_v2 create_cell --name cell1",
            ],
            [str(bin_ / "nova-manage"), *nova_conf, "db", "sync"],
        ],
        "glance": [
            [str(bin_ / "glance-manage"), "--config-file", str(ETC / "glance" / "glance-api.conf"), "db_sync"]
        ],
        "neutron": [
            [
                str(bin_ / "neutron-db-manage"),
                "--config-file",
                str(ETC / "neutron" / "neutron.conf"),
                "upgrade",
                "heads",
            ]
        ],
    }
    if cinder_enabled():
        chains["cinder"] = [
            [str(bin_ / "cinder-manage"), "--config-file", str(ETC / "cinder" / "cinder.conf"), "db", "sync"]
        ]
    chains = {name: steps for name, steps in chains.items() if not stamp_ok(f"migrations-{name}", version)}
    if not chains:
        return
    say(f"creating schemas for {', '.join(chains)} (first start after an install)")
    procs = {}
    for name, steps in chains.items():
        log = LOG / f"{name}-manage.log"
        script = " && ".join(
            " ".join(_shell_quote(a) for a in step) if step[0] != "sh" else step[2] for step in steps
        )
        out = log.open("ab")
        procs[name] = (
            subprocess.Popen(
                ["sh", "-c", script],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=os.environ,
            ),
            log,
            out,
        )
    failed = None
    for name, (proc, log, out) in procs.items():
        if proc.wait() == 0:
            stamp_write(f"migrations-{name}", version)
        elif failed is None:
            failed = (name, log)
        out.close()
    if failed:
        raise StartError(f"schema setup for {failed[0]} failed", Service(failed[1].stem, []))


def _shell_quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


def _source_env() -> dict[str, str]:
    """This checkout's kennel_devcloud ahead of the venv's (a lent venv's editable install may point at
    another checkout), and the port offset (seed.py registers the endpoints)."""
    path = os.pathsep.join(p for p in (str(SRC.parent), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "DEVCLOUD_PORT_OFFSET": str(PORT_OFFSET)}


def seed(phase: str, *extra: str) -> None:
    if cinder_enabled():
        extra = (*extra, "--cinder")
    run(
        [str(VENV / "bin" / "kennel-devcloud-seed"), phase, "--secrets", str(ROOT / "secrets.json"), *extra],
        env={"OS_CLIENT_CONFIG_FILE": str(CLOUDS_YAML), **_source_env()},
        log=LOG / "seed.log",
    )


# --------------------------------------------------------------------------- memory


def memory_of(services: list[Service]) -> tuple[int, int]:
    """(RSS, PSS) in KiB over every process of every running service group."""
    rss = pss = 0
    for service in services:
        pid = service.pid()
        if pid is None:
            continue
        for member in group_members(pid):
            try:
                for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
    return rss, pss


# --------------------------------------------------------------------------- commands


def cmd_start() -> int:
    started = time.monotonic()
    for d in (ETC, DATA, LOG, RUN, STAMPS):
        d.mkdir(parents=True, exist_ok=True)
    services = all_services()
    seed_version = fingerprint(SRC / "seed.py") + ("+cinder" if cinder_enabled() else "")
    if all(s.pid() for s in services) and stamp_ok("seeded", seed_version) and CLOUDS_YAML.exists():
        say(f"already running ({time.monotonic() - started:.1f} s); clouds.yaml at {CLOUDS_YAML}")
        return 0
    try:
        install()
        installed = time.monotonic()
        secret = load_secrets()
        render_configs(secret)
        infra = {s.name: s for s in infrastructure_services()}
        spawn(infra["epmd"])
        mariadb_prepare()
        spawn(infra["mariadb"])
        wait_ready([infra["epmd"], infra["mariadb"]], timeout=60)
        spawn(infra["rabbitmq"])
        mariadb_create_databases(secret)
        database_migrations(secret)
        apis = openstack_services() + ([cinder_api_service()] if cinder_enabled() else [])
        daemons = nova_services() + (cinder_daemons() if cinder_enabled() else [])
        for service in apis:
            spawn(service)
        # Nova's daemons log in to Keystone as they start and exit if their
        # service user is missing: on the first start they wait for the
        # identity seed; afterwards everything starts at once.
        identity_seeded = stamp_ok("identity", seed_version)
        if identity_seeded:
            computes_spawned = time.time()
            for service in daemons:
                spawn(service)
        wait_ready([infra["rabbitmq"], apis[0]], timeout=120)
        if not identity_seeded:
            seed("identity")
            stamp_write("identity", seed_version)
            computes_spawned = time.time()
            for service in daemons:
                spawn(service)
        wait_ready(apis + daemons, timeout=180)
        # The estate lives in the databases: once seeded by this seed.py, a
        # restart only waits for the computes.
        already_seeded = ("--wait-only",) if stamp_ok("seeded", seed_version) else ()
        seed(
            "estate",
            "--computes-since",
            str(computes_spawned),
            "--nova-conf",
            str(ETC / "nova" / "nova.conf"),
            *already_seeded,
        )
        stamp_write("seeded", seed_version)
    except StartError as e:
        say(f"start FAILED: {e}")
        if e.service is not None:
            say(f"last lines of {e.service.logfile}:")
            print(tail(e.service.logfile), flush=True)
        say("fix it and run 'devcloud/run start' again, or 'devcloud/run stop' to clean up")
        return 1
    ready = time.monotonic()
    rss, pss = memory_of(services)
    say(f"clouds.yaml: {CLOUDS_YAML} (clouds kennel-admin, kennel-alpha, kennel-beta)")
    if installed - started > 1:
        say(f"install took {installed - started:.1f} s")
    say(f"ready in {ready - installed:.1f} s (start to ready); total {ready - started:.1f} s")
    say(
        f"memory of the whole cloud: RSS {rss / 1024:.0f} MiB, PSS {pss / 1024:.0f} MiB "
        f"over {sum(len(group_members(s.pid())) for s in services if s.pid())} processes"
    )
    return 0


def cmd_stop() -> int:
    services = {s.name: s for s in all_services(with_cinder=True)}
    # A pidfile of a service this version no longer knows (renamed, or from
    # an older checkout) still names a process group to stop.
    for pidfile in RUN.glob("*.pid"):
        services.setdefault(pidfile.stem, Service(pidfile.stem, []))
    infra = ("epmd", "mariadb", "rabbitmq")
    stop_group([s for name, s in services.items() if name not in infra])
    stop_group([services["mariadb"]])
    stop_group([services["rabbitmq"]])  # last: the others talk to it until they are gone
    stop_group([services["epmd"]])
    say("stopped")
    return 0


def cmd_status() -> int:
    all_up = True
    print(f"{'service':<25} {'pid':>8} {'port':>6}  {'state':<5} {'RSS MiB':>8}")
    for service in all_services():
        pid = service.pid()
        up = pid is not None and (service.port is None or port_open(service.port))
        all_up &= up
        rss = memory_of([service])[0] // 1024 if pid else 0
        print(
            f"{service.name:<25} {pid or '-':>8} {service.port or '-':>6}  "
            f"{'up' if up else 'down':<5} {rss or '-':>8}"
        )
    rss, pss = memory_of(all_services())
    if rss:
        print(f"memory of the whole cloud: RSS {rss / 1024:.0f} MiB, PSS {pss / 1024:.0f} MiB")
    return 0 if all_up else 1


def _one_service(name: str) -> Service:
    services = {s.name: s for s in all_services()}
    if name not in services:
        raise SystemExit(f"no service named {name!r}; one of: {', '.join(services)}")
    return services[name]


def cmd_stop_service(name: str) -> int:
    """Stop one service of a running cloud (fault tests: an API that goes away and comes back)."""
    stop_group([_one_service(name)])
    say(f"{name} stopped")
    return 0


def cmd_start_service(name: str) -> int:
    """Start one stopped service again with the configuration the last full start rendered, and wait
    until it answers."""
    service = _one_service(name)
    started = time.monotonic()
    try:
        spawn(service)
        wait_ready([service], timeout=120)
    except StartError as e:
        say(f"start of {name} FAILED: {e}")
        print(tail(service.logfile), flush=True)
        return 1
    say(f"{name} ready in {time.monotonic() - started:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devcloud/run", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("start", "stop", "status", "stop-service", "start-service"))
    parser.add_argument("service", nargs="?", help="for stop-service and start-service: e.g. nova-api")
    args = parser.parse_args(argv)
    if args.command in ("stop-service", "start-service"):
        if not args.service:
            parser.error(f"{args.command} needs the name of a service (see 'status')")
        one = cmd_stop_service if args.command == "stop-service" else cmd_start_service
        return one(args.service)
    commands: dict[str, Callable[[], int]] = {"start": cmd_start, "stop": cmd_stop, "status": cmd_status}
    return commands[args.command]()


if __name__ == "__main__":
    sys.exit(main())
