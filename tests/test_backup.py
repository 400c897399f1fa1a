"""Backups as README.md documents them: scripts/backup.sh dumps a populated database, scripts/restore.sh
restores it into a fresh, empty PostgreSQL database; the rows are all there and the BMC passwords still
decrypt, with the key and only with it."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from django.db import connection

from inventory import services as inventory_services
from portal import services
from portal.models import AuditEvent, Membership, Role
from tests.factories import ServerFactory

ROOT = Path(__file__).resolve().parents[1]
KEY = Fernet.generate_key().decode()
PG_BIN = "/usr/lib/postgresql/15/bin"

pytestmark = [pytest.mark.django_db(transaction=True)]  # committed rows, so that pg_dump sees them


def url(name: str) -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"


def script(name: str, *args: str, database: str, key: str = KEY) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "DATABASE_URL": url(database),
        "KENNEL_ENCRYPTION_KEY": key,
        "PATH": f"{PG_BIN}:{os.environ['PATH']}",
    }
    return subprocess.run(
        [str(ROOT / "scripts" / name), *args], env=environment, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def fresh_database():
    name = f"kennel_restore_{uuid.uuid4().hex[:8]}"
    subprocess.run([f"{PG_BIN}/createdb", "--maintenance-db", url("postgres"), name], check=True)
    yield name
    subprocess.run([f"{PG_BIN}/dropdb", "--maintenance-db", url("postgres"), "--force", name], check=False)


@pytest.fixture
def populated(settings):
    settings.KENNEL_ENCRYPTION_KEYS = [KEY]
    admin = services.user_create(actor=None, username="ada", password="pw-ada-0001", role=Role.ADMIN)
    team = services.team_create(actor=admin, name="Alpha", slug="alpha")
    dev = services.user_create(actor=admin, username="dev", password="pw-dev-0001")
    services.membership_set(actor=admin, team=team, user=dev, level=Membership.Level.LEAD)
    for number in range(3):
        inventory_services.server_bmc_set(
            actor=admin,
            server=ServerFactory(name=f"srv{number}"),
            protocol="ipmi",
            address="10.0.0.1",
            port=623,
            username="ADMIN",
            password=f"bmc-password-{number}",
        )
    return {"audit": AuditEvent.objects.count()}


def test_a_backup_restores_into_an_empty_database_with_its_rows_and_readable_bmc_passwords(
    populated, fresh_database, tmp_path
):
    dump = tmp_path / "kennel.dump"
    started = time.monotonic()
    backup = script("backup.sh", str(dump), database=connection.settings_dict["NAME"])
    assert backup.returncode == 0, backup.stderr
    backed_up = time.monotonic() - started

    started = time.monotonic()
    restore = script("restore.sh", str(dump), database=fresh_database)
    assert restore.returncode == 0, restore.stdout + restore.stderr
    restored = time.monotonic() - started
    assert "0 unreadable" in restore.stdout and "3 already on it" in restore.stdout
    print(f"backup {backed_up:.1f} s ({dump.stat().st_size} bytes), restore+migrate+check {restored:.1f} s")

    with psycopg.connect(url(fresh_database)) as restored_db:
        count = lambda table: restored_db.execute(f"select count(*) from {table}").fetchone()[0]  # noqa: E731, S608
        assert count("portal_user") == 2 and count("portal_team") == 1 and count("portal_membership") == 1
        assert count("portal_auditevent") >= populated["audit"]  # plus the check's own entry
        passwords = restored_db.execute(
            "select name, bmc_password_encrypted from inventory_server order by name"
        ).fetchall()
        # the audit log is as append-only as before: its trigger came back with the rows
        with pytest.raises(psycopg.errors.RaiseException):
            restored_db.execute("delete from portal_auditevent")
    assert [(name, Fernet(KEY).decrypt(token.encode()).decode()) for name, token in passwords] == [
        (f"srv{n}", f"bmc-password-{n}") for n in range(3)
    ]


def test_a_restore_without_the_key_fails_naming_the_servers(populated, fresh_database, tmp_path):
    dump = tmp_path / "kennel.dump"
    assert script("backup.sh", str(dump), database=connection.settings_dict["NAME"]).returncode == 0
    restore = script("restore.sh", str(dump), database=fresh_database, key=Fernet.generate_key().decode())
    assert restore.returncode != 0
    assert "3 BMC password(s) decrypt with none" in restore.stderr and "srv0" in restore.stderr


def test_a_restore_refuses_a_database_that_is_not_empty(populated, tmp_path):
    dump = tmp_path / "kennel.dump"
    assert script("backup.sh", str(dump), database=connection.settings_dict["NAME"]).returncode == 0
    restore = script("restore.sh", str(dump), database=connection.settings_dict["NAME"])
    assert restore.returncode == 1 and "refusing" in restore.stderr
