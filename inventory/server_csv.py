"""Servers to and from CSV: export everything a user may read (never a secret), import all-or-nothing.

The columns are the model's field names. An import creates or updates servers by ``name``; a column
left out of the file leaves that field alone, an empty cell empties it. ``datacenter`` is the data
center's code; ``roles`` are role values separated by ``;``. ``bmc_password`` exists on import only:
it is encrypted on the way in, a blank cell keeps the stored password, and no preview, error or audit
entry ever repeats it.

Every row is validated before anything is written; one bad cell and nothing is applied. Errors are
given per row (the spreadsheet's row number: the header is row 1) and per column.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from inventory.models import BmcProtocolChoice, BmcTlsVerifyChoice, DataCenter, Server
from inventory.services import (
    SERVER_ASSET_FIELDS,
    bmc_address_refusal,
    bmc_password_matches,
    roles_normalized,
    server_bmc_set,
    server_upsert,
)
from portal.access import Capability, can, restrict
from portal.architectures import Architecture
from portal.crypto import SecretUnreadable, secret_decrypt, secret_encrypt
from portal.models import User
from portal.origin import SYSTEM
from portal.services import audit_record

BMC_COLUMNS = ("bmc_protocol", "bmc_address", "bmc_port", "bmc_username", "bmc_tls_verify")
EXPORT_COLUMNS = (*SERVER_ASSET_FIELDS, *BMC_COLUMNS)
PASSWORD_COLUMN = "bmc_password"  # noqa: S105 (a column name, not a password)
IMPORT_COLUMNS = (*EXPORT_COLUMNS, PASSWORD_COLUMN)
ROLE_SEPARATOR = ";"
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 5000
STAGE_SECONDS = 15 * 60

# A spreadsheet runs a cell that starts with one of these as a formula. Export puts a ' before such a
# cell (and before a cell already starting with ' and one of them), import takes exactly one off: a
# round trip gives back every value unchanged.
_FORMULA = re.compile(r"^'*[=+\-@\t\r]")


def _cell_out(value: str) -> str:
    return f"'{value}" if _FORMULA.match(value) else value


def _cell_in(value: str) -> str:
    return value[1:] if value.startswith("'") and _FORMULA.match(value) else value


def _export_columns(user: User) -> tuple[str, ...]:
    # The BMC username is for those who may change the BMC; a manager's file leaves the column out,
    # which an import reads as "leave the username alone".
    if can(user, Capability.INVENTORY_CHANGE):
        return EXPORT_COLUMNS
    return tuple(c for c in EXPORT_COLUMNS if c != "bmc_username")


def _display(server: Server, column: str) -> str:
    if column == "datacenter":
        return server.datacenter.code if server.datacenter_id else ""
    value = getattr(server, column)
    if column == "roles":
        return ROLE_SEPARATOR.join(value or [])
    return "" if value is None else str(value)


def servers_csv_export(*, user: User) -> str:
    """Every server ``user`` may see, one row each, as CSV text. Never a password (the column does not
    exist in exports); the BMC username only for those who may change BMCs. One query."""
    columns = _export_columns(user)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for server in restrict(user, Server.objects.select_related("datacenter").order_by("name")):
        writer.writerow([_cell_out(_display(server, column)) for column in columns])
    return out.getvalue()


# Import ---------------------------------------------------------------------------------------------


@dataclass
class RowPlan:
    """What the import would do with one row: ``action`` is create, update, unchanged or invalid;
    ``changes`` maps a column to (before, after) as text, the password only as a word; ``errors`` maps
    a column ("" for the row as a whole) to its messages."""

    row: int
    name: str
    action: str = "unchanged"
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    # Internal: what to write. Never shown (it holds the password).
    fields: dict[str, Any] = field(default_factory=dict, repr=False)
    bmc: dict[str, Any] | None = field(default=None, repr=False)

    def error(self, column: str, message: str) -> None:
        self.errors.setdefault(column, []).append(message)
        self.action = "invalid"


@dataclass
class ImportPlan:
    """The whole file's plan. ``errors`` are about the file itself (header, size, encoding)."""

    rows: list[RowPlan] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def valid(self) -> bool:
        return not self.errors and all(not r.errors for r in self.rows)

    def count(self, action: str) -> int:
        return sum(1 for r in self.rows if r.action == action)

    @property
    def created(self) -> int:
        return self.count("create")

    @property
    def updated(self) -> int:
        return self.count("update")

    @property
    def unchanged(self) -> int:
        return self.count("unchanged")

    @property
    def invalid_rows(self) -> int:
        return sum(1 for r in self.rows if r.errors)


def _read(text: str, plan: ImportPlan) -> tuple[list[str], list[list[str]]]:
    if len(text.encode()) > MAX_IMPORT_BYTES:
        plan.errors.append(
            _("The file is larger than %(mb)d MB.") % {"mb": MAX_IMPORT_BYTES // (1024 * 1024)}
        )
        return [], []
    text = text.removeprefix("\ufeff")  # a byte-order mark, as spreadsheets write
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as error:
        plan.errors.append(_("The file is not valid CSV: %(error)s") % {"error": error})
        return [], []
    records = [r for r in records if any(cell.strip() for cell in r)] if records else []
    if not records:
        plan.errors.append(_("The file is empty: it needs a header row and one row per server."))
        return [], []
    header = [cell.strip().lower() for cell in records[0]]
    unknown = [c for c in header if c not in IMPORT_COLUMNS]
    if unknown:
        plan.errors.append(
            _("Unknown column(s): %(unknown)s. Known columns: %(known)s.")
            % {"unknown": ", ".join(unknown), "known": ", ".join(IMPORT_COLUMNS)}
        )
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        plan.errors.append(_("Column(s) given twice: %(columns)s.") % {"columns": ", ".join(repeated)})
    if "name" not in header:
        plan.errors.append(_("The header has no name column: servers are matched by name."))
    if len(records) - 1 > MAX_IMPORT_ROWS:
        plan.errors.append(_("More than %(max)d rows; split the file.") % {"max": MAX_IMPORT_ROWS})
    return header, records[1:]


def _parse_int(plan: RowPlan, column: str, raw: str, *, low: int, high: int) -> int | None:
    if raw == "":
        return None
    if not re.fullmatch(r"\d+", raw) or not low <= int(raw) <= high:
        plan.error(column, _("Give a whole number from %(low)d to %(high)d.") % {"low": low, "high": high})
        return None
    return int(raw)


def _row_values(plan: RowPlan, cells: dict[str, str], datacenters: dict[str, DataCenter]) -> dict[str, Any]:
    """The asset fields a row sets, parsed; bad cells become errors on ``plan``."""
    values: dict[str, Any] = {}
    for column, raw in cells.items():
        if column in BMC_COLUMNS or column == PASSWORD_COLUMN:
            continue
        if column == "notes":
            values[column] = raw
        elif column == "architecture":
            if raw not in Architecture.values:
                plan.error(
                    column, _("Use one of: %(choices)s.") % {"choices": ", ".join(Architecture.values)}
                )
            values[column] = raw
        elif column == "datacenter":
            if raw not in datacenters:
                plan.error(
                    column,
                    _("No data center has the code %(code)s; add it under Data centers first.")
                    % {"code": raw}
                    if raw
                    else _("Give the data center's code."),
                )
            values[column] = datacenters.get(raw)
        elif column == "rack_unit":
            values[column] = _parse_int(plan, column, raw, low=0, high=32767)
        elif column == "roles":
            values[column] = roles_normalized([r.strip() for r in raw.split(ROLE_SEPARATOR) if r.strip()])
        else:
            values[column] = raw.strip()
    return values


def _row_bmc(plan: RowPlan, cells: dict[str, str], server: Server) -> dict[str, Any] | None:
    """The BMC a row asks for (the stored one where a column is left out), or None when the row does
    not touch the BMC. A password with no BMC, or a BMC missing a part, becomes an error."""
    if not any(c in cells for c in (*BMC_COLUMNS, PASSWORD_COLUMN)):
        return None
    protocol = cells["bmc_protocol"].strip() if "bmc_protocol" in cells else server.bmc_protocol
    if protocol not in ("", *BmcProtocolChoice.values):
        plan.error("bmc_protocol", _("Use ipmi, redfish, or leave it empty for no BMC."))
    port = server.bmc_port
    if "bmc_port" in cells:
        port = _parse_int(plan, "bmc_port", cells["bmc_port"].strip(), low=1, high=65535)
    address = cells["bmc_address"].strip() if "bmc_address" in cells else server.bmc_address
    wanted = {
        "protocol": protocol,
        "address": address,
        "port": port,
        "username": cells["bmc_username"].strip() if "bmc_username" in cells else server.bmc_username,
        "password": cells.get(PASSWORD_COLUMN) or None,
        "tls_verify": cells["bmc_tls_verify"].strip() if "bmc_tls_verify" in cells else server.bmc_tls_verify,
    }
    if wanted["tls_verify"] not in BmcTlsVerifyChoice.values:
        plan.error("bmc_tls_verify", _("Use verify, skip, or leave it empty for the setting's default."))
    if protocol and not (wanted["address"] and wanted["port"] and wanted["username"]):
        plan.error("bmc_address", _("A BMC needs an address, a port and a username."))
    elif protocol in BmcProtocolChoice.values and (protocol, address, port) != (
        server.bmc_protocol,
        server.bmc_address,
        server.bmc_port,
    ):
        # The same rule as the form and the API (KENNEL_BMC_ALLOWED_NETWORKS and _PORTS), for a new
        # or moved BMC only: exporting and importing an unchanged file still changes nothing.
        refusal = bmc_address_refusal(protocol=protocol, address=address, port=port)
        if refusal is not None:
            for column, problems in refusal.message_dict.items():
                for problem in problems:
                    plan.error(column, problem)
    if wanted["password"] and not protocol:
        plan.error(PASSWORD_COLUMN, _("A BMC password needs a BMC: give bmc_protocol and the rest."))
    return wanted


def _bmc_changes(server: Server, bmc: dict[str, Any], created: bool) -> dict[str, tuple[str, str]]:
    changes = {}
    for column in BMC_COLUMNS:
        before = "" if created else _display(server, column)
        after = "" if bmc[column.removeprefix("bmc_")] is None else str(bmc[column.removeprefix("bmc_")])
        if not bmc["protocol"]:
            after = ""
        if before != after:
            changes[column] = (before, after)
    password = bmc["password"]
    if bmc["protocol"] and password and (created or not bmc_password_matches(server, password)):
        # The value is never shown: only that it changes.
        changes[PASSWORD_COLUMN] = ("", _("(new password)"))
    elif not bmc["protocol"] and server.bmc_password_encrypted and not created:
        changes[PASSWORD_COLUMN] = (_("(stored password)"), _("(removed)"))
    return changes


def _plan_row(
    number: int,
    header: list[str],
    record: list[str],
    *,
    existing: dict[str, Server],
    datacenters: dict[str, DataCenter],
) -> RowPlan:
    cells = {column: record[i] if i < len(record) else "" for i, column in enumerate(header)}
    # Passwords are never exported, so they never carry the formula guard: taken as they are.
    cells = {c: v if c == PASSWORD_COLUMN else _cell_in(v) for c, v in cells.items()}
    name = cells.get("name", "").strip()
    plan = RowPlan(row=number, name=name)
    if len(record) > len(header) and any(cell.strip() for cell in record[len(header) :]):
        plan.error("", _("This row has more cells than the header has columns."))
    if not name:
        plan.error("name", _("Give the server's name."))
        return plan
    server = existing.get(name)
    created = server is None
    if created:
        for column in ("architecture", "datacenter"):
            if column not in cells:
                plan.error(column, _("A new server needs this column."))
    candidate = _copy(server) if server is not None else Server()
    values = _row_values(plan, cells, datacenters)
    bmc = _row_bmc(plan, cells, candidate)
    for column, value in values.items():
        before = "" if created else _display(candidate, column)
        setattr(candidate, column, value)
        after = _display(candidate, column)
        if created or before != after:
            plan.changes[column] = (before, after)
    if bmc is not None:
        plan.changes.update(_bmc_changes(candidate, bmc, created))
        # The model checks the BMC's parts together with the rest of the row.
        for column in BMC_COLUMNS:
            value = bmc[column.removeprefix("bmc_")] if bmc["protocol"] else None
            setattr(candidate, column, "" if value is None and column != "bmc_port" else value)
    try:
        # Name uniqueness is settled by the lookup (and the in-file check); the data center came from
        # the table of codes: neither needs a query per row.
        candidate.full_clean(exclude=["datacenter"], validate_unique=False)
    except ValidationError as error:
        already = set(plan.errors)  # a cell reported above is not reported twice
        for column, messages in error.message_dict.items():
            column = "" if column == "__all__" else column
            for message in messages if column not in already else []:
                plan.error(column, message)
    plan.fields = {k: v for k, v in values.items() if k != "name"}
    plan.bmc = bmc
    if not plan.errors:
        plan.action = "create" if created else ("update" if plan.changes else "unchanged")
    return plan


def _copy(server: Server) -> Server:
    """An unsaved copy to try the row's values on, so the stored row stays as it is."""
    copy = Server()
    for f in Server._meta.concrete_fields:
        setattr(copy, f.attname, getattr(server, f.attname))
    copy._state.adding = False
    copy.datacenter = server.datacenter
    return copy


def servers_csv_plan(*, user: User, text: str, lock: bool = False) -> ImportPlan:
    """Validate ``text`` as a server CSV for ``user`` (who must be able to change the inventory) and
    say, row by row, what importing it would do. Writes nothing. ``lock`` takes row locks on the
    servers it names (inside the caller's transaction). A handful of queries whatever the size."""
    if not can(user, Capability.INVENTORY_CHANGE):
        raise PermissionDenied
    plan = ImportPlan()
    header, records = _read(text, plan)
    if plan.errors:
        return plan
    at = header.index("name")
    names = {_cell_in(r[at]).strip() for r in records if len(r) > at}
    servers = Server.objects.select_related("datacenter").filter(name__in=names)
    if lock:
        servers = servers.select_for_update(of=("self",))
    existing = {s.name: s for s in servers}
    datacenters = {dc.code: dc for dc in restrict(user, DataCenter.objects.all())}
    first_row: dict[str, int] = {}
    for number, record in enumerate(records, start=2):
        row = _plan_row(number, header, record, existing=existing, datacenters=datacenters)
        if row.name and row.name in first_row:
            row.error("name", _("This name is already on row %(row)d.") % {"row": first_row[row.name]})
        first_row.setdefault(row.name, number)
        plan.rows.append(row)
    return plan


def servers_csv_import(*, actor: User, text: str, dry_run: bool = False, source: str = SYSTEM) -> ImportPlan:
    """Import a server CSV: validate every row, then (unless ``dry_run`` or any error) create or update
    each server by name in one transaction, all or nothing. Each server's change is audited as a normal
    edit, and one ``server.csv_import`` entry records the counts. Returns the plan, ``applied`` set
    when it was written. Raises PermissionDenied for anyone who may not change the inventory."""
    plan = ImportPlan()
    try:
        with transaction.atomic():
            plan = servers_csv_plan(user=actor, text=text, lock=not dry_run)
            if dry_run or not plan.valid:
                return plan
            for row in plan.rows:
                if row.action == "unchanged":
                    continue
                server = server_upsert(actor=actor, name=row.name, fields=row.fields, source=source)
                if row.bmc is not None:
                    server_bmc_set(actor=actor, server=server, source=source, **row.bmc)
            audit_record(
                actor=actor,
                action="server.csv_import",
                source=source,
                detail={
                    "rows": len(plan.rows),
                    "created": plan.created,
                    "updated": plan.updated,
                    "unchanged": plan.unchanged,
                },
            )
    except (IntegrityError, ValidationError):
        # Another admin created one of these names between the check and the write (rows are locked
        # only once they exist): the whole import was rolled back.
        plan.errors.append(
            _("Someone changed the same servers meanwhile; nothing was written. Upload the file again.")
        )
        return plan
    plan.applied = True
    return plan


# The HTML import shows a preview, then applies the same file. The file waits in the cache between the
# two, encrypted (it may hold BMC passwords) and bound to the admin who uploaded it.


# What secrets.token_urlsafe(16) makes.
_STAGE_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")


def servers_csv_stage(*, actor: User, text: str) -> str:
    """Keep ``text`` for ``actor`` for STAGE_SECONDS; returns the token that names it."""
    token = secrets.token_urlsafe(16)
    cache.set(f"inventory:csv-import:{token}", {"user": actor.pk, "csv": secret_encrypt(text)}, STAGE_SECONDS)
    return token


def servers_csv_staged(*, actor: User, token: str) -> str | None:
    """The text ``actor`` staged under ``token``, or None when it expired, is someone else's or the
    token is not one ``servers_csv_stage`` makes (any text posted back is never a cache key)."""
    if not _STAGE_TOKEN.fullmatch(token):
        return None
    staged = cache.get(f"inventory:csv-import:{token}")
    if not isinstance(staged, dict) or staged.get("user") != actor.pk:
        return None
    try:
        return secret_decrypt(staged["csv"])
    except SecretUnreadable:
        return None


def servers_csv_unstage(*, token: str) -> None:
    cache.delete(f"inventory:csv-import:{token}")
