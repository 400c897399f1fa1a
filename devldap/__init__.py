"""A throwaway OpenLDAP directory (Debian's ``slapd``) on loopback, for the tests and the demo.

One ``slapd -f`` with a generated ``slapd.conf``, an mdb database in its own directory, people and
groups loaded with ``slapadd`` before it starts, and, if asked, a CA and a server certificate made with
``openssl`` for StartTLS and LDAPS. Never imported by the portal (it reads a directory through
``portal.directory``, as it would a company's).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
BASE = "dc=kennel,dc=test"


@dataclass(frozen=True)
class Person:
    uid: str
    password: str
    given_name: str
    surname: str
    mail: str = ""


@dataclass(frozen=True)
class Group:
    cn: str
    members: tuple[str, ...] = ()  # uids


@dataclass(frozen=True)
class Tls:
    ca_file: Path
    cert_file: Path
    key_file: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_tls(directory: Path, hostname: str = "127.0.0.1") -> Tls:
    """A CA and a server certificate for ``hostname`` (an IP address or a name), signed by it."""
    directory.mkdir(parents=True, exist_ok=True)
    names = ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    ca_key, ca, key, csr, cert = (directory / name for name in names)
    run = ["openssl"]
    subprocess.run(
        [*run, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Kennel test CA",
         "-keyout", str(ca_key), "-out", str(ca)],
        check=True, capture_output=True,
    )  # fmt: skip
    san = f"IP:{hostname}" if hostname.replace(".", "").isdigit() or ":" in hostname else f"DNS:{hostname}"
    subprocess.run(
        [*run, "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={hostname}", "-keyout", str(key),
         "-out", str(csr)],
        check=True, capture_output=True,
    )  # fmt: skip
    extensions = directory / "server.ext"
    extensions.write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n")
    subprocess.run(
        [*run, "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
         "-days", "2", "-out", str(cert), "-extfile", str(extensions)],
        check=True, capture_output=True,
    )  # fmt: skip
    key.chmod(0o644)  # slapd may run as another user; a throwaway key
    return Tls(ca_file=ca, cert_file=cert, key_file=key)


@dataclass
class Directory:
    """One slapd. ``start()`` loads ``people`` and ``groups`` and waits until it answers."""

    root: Path
    people: list[Person]
    groups: list[Group]
    port: int = 0
    ldaps_port: int = 0
    tls: Tls | None = None
    base: str = BASE
    admin_password: str = "directory-admin"  # noqa: S105 - a throwaway directory's root password
    reader_password: str = "kennel-reader"  # noqa: S105
    _process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def admin_dn(self) -> str:
        return f"cn=admin,{self.base}"

    @property
    def reader_dn(self) -> str:
        return f"cn=kennel,ou=services,{self.base}"

    @property
    def people_base(self) -> str:
        return f"ou=people,{self.base}"

    @property
    def groups_base(self) -> str:
        return f"ou=groups,{self.base}"

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    def person_dn(self, uid: str) -> str:
        return f"uid={uid},{self.people_base}"

    def group_dn(self, cn: str) -> str:
        return f"cn={cn},{self.groups_base}"

    # ---- life cycle

    def start(self, timeout: float = 20) -> None:
        self.port = self.port or free_port()
        if self.tls is not None:
            self.ldaps_port = self.ldaps_port or free_port()
        data = self.root / "data"
        if data.exists():
            shutil.rmtree(data)
        data.mkdir(parents=True)
        (self.root / "slapd.conf").write_text(self._config())
        subprocess.run(
            [SLAPADD, "-f", str(self.root / "slapd.conf"), "-b", self.base],
            input=self._ldif().encode(),
            check=True,
            capture_output=True,
        )
        urls = self.url + (f" {self.ldaps_url}" if self.tls is not None else "")
        # -d 0: in the foreground (so it is our child and stops with us), logging nothing.
        self._process = subprocess.Popen(
            [SLAPD, "-f", str(self.root / "slapd.conf"), "-h", urls, "-d", "0"],
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "slapd.log", "wb"),  # noqa: SIM115 - the child keeps it
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"slapd exited: {(self.root / 'slapd.log').read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"slapd did not listen on {self.port} within {timeout} s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> Directory:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- changes while running (what the company's directory admins do), with ldapmodify

    def modify(self, ldif: str) -> None:
        subprocess.run(
            ["ldapmodify", "-x", "-H", self.url, "-D", self.admin_dn, "-w", self.admin_password],
            input=ldif.encode(),
            check=True,
            capture_output=True,
        )

    def delete_person(self, uid: str) -> None:
        self.modify(f"dn: {self.person_dn(uid)}\nchangetype: delete\n")

    def add_person(self, person: Person) -> None:
        # ldapmodify wants the changetype right after the DN
        entry = self._person_entry(person).split("\n", 1)
        self.modify(f"{entry[0]}\nchangetype: add\n{entry[1]}")

    def set_group_members(self, cn: str, uids: list[str]) -> None:
        members = [self.person_dn(uid) for uid in uids] or [self.admin_dn]  # groupOfNames needs one
        lines = "".join(f"member: {dn}\n" for dn in members)
        self.modify(f"dn: {self.group_dn(cn)}\nchangetype: modify\nreplace: member\n{lines}")

    # ---- what is written

    def _config(self) -> str:
        schemas = "".join(f"include /etc/ldap/schema/{name}.schema\n" for name in SCHEMAS)
        tls = ""
        if self.tls is not None:
            tls = (
                f"TLSCACertificateFile {self.tls.ca_file}\n"
                f"TLSCertificateFile {self.tls.cert_file}\n"
                f"TLSCertificateKeyFile {self.tls.key_file}\n"
            )
        return (
            f"{schemas}"
            f"pidfile {self.root / 'slapd.pid'}\n"
            "modulepath /usr/lib/ldap\n"
            "moduleload back_mdb\n"
            f"{tls}"
            "database mdb\n"
            "maxsize 16777216\n"
            f'suffix "{self.base}"\n'
            f'rootdn "{self.admin_dn}"\n'
            f"rootpw {self.admin_password}\n"
            f"directory {self.root / 'data'}\n"
            "index objectClass,uid,member eq\n"
            "access to attrs=userPassword by self write by anonymous auth by * none\n"
            "access to * by users read by * none\n"
        )

    def _person_entry(self, person: Person) -> str:
        mail = f"mail: {person.mail}\n" if person.mail else ""
        return (
            f"dn: {self.person_dn(person.uid)}\n"
            "objectClass: inetOrgPerson\n"
            f"uid: {person.uid}\n"
            f"cn: {person.given_name} {person.surname}\n"
            f"givenName: {person.given_name}\n"
            f"sn: {person.surname}\n"
            f"{mail}"
            f"userPassword: {person.password}\n"
        )

    def _ldif(self) -> str:
        dc = self.base.split(",")[0].split("=")[1]
        entries = [
            f"dn: {self.base}\nobjectClass: dcObject\nobjectClass: organization\no: Kennel test\ndc: {dc}\n",
            f"dn: ou=people,{self.base}\nobjectClass: organizationalUnit\nou: people\n",
            f"dn: ou=groups,{self.base}\nobjectClass: organizationalUnit\nou: groups\n",
            f"dn: ou=services,{self.base}\nobjectClass: organizationalUnit\nou: services\n",
            f"dn: {self.reader_dn}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
            f"cn: kennel\nuserPassword: {self.reader_password}\n",
        ]
        entries += [self._person_entry(person) for person in self.people]
        for group in self.groups:
            members = [self.person_dn(uid) for uid in group.members] or [self.admin_dn]
            entries.append(
                f"dn: {self.group_dn(group.cn)}\nobjectClass: groupOfNames\ncn: {group.cn}\n"
                + "".join(f"member: {dn}\n" for dn in members)
            )
        return "\n".join(entries)
