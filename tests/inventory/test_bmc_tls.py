"""Redfish certificate verification: off by default, on per server or by setting, against a CA bundle;
checked against sushy-tools' emulator serving HTTPS with a certificate made here by a throwaway CA."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bmcsim.fleet import ROOT, free_ports
from inventory import services
from inventory.bmc import BmcError, BmcProtocol, BmcTarget, PowerState, gateway_for
from inventory.bmc.redfish import _connect
from inventory.models import BmcTlsVerifyChoice, HardwareState
from tests.factories import ServerFactory
from tests.fixtures.bmcs import target_of

pytestmark = pytest.mark.django_db

USERNAME, PASSWORD = "root", "tls-bmc-secret"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(directory: Path, label: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"Kennel test CA {label}"))
        .issuer_name(_name(f"Kennel test CA {label}"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"ca-{label}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def _bmc_certificate(directory: Path, ca_key, ca_cert) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by the CA, as a BMC vendor's site CA would issue."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("bmc.test"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "bmc.pem", directory / "bmc-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _wait_for_tls(port: int, deadline: float) -> None:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as raw, context.wrap_socket(raw):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("the HTTPS Redfish emulator did not start in time")


@pytest.fixture(scope="module")
def tls_bmc(tmp_path_factory):
    """sushy-tools' emulator on HTTPS with a certificate from a throwaway CA; yields (port, CA bundle,
    another CA's bundle)."""
    directory = tmp_path_factory.mktemp("bmc-tls")
    ca_key, ca_cert, ca_path = _ca(directory, "site")
    _other_key, _other_cert, other_ca_path = _ca(directory, "other")
    cert_path, key_path = _bmc_certificate(directory, ca_key, ca_cert)
    port = free_ports(1)[0]
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bmcsim.redfish",
            "--port",
            str(port),
            "--name",
            "T-TLS",
            "--username",
            USERNAME,
            "--state-dir",
            str(directory / "state"),
            "--tls-cert",
            str(cert_path),
            "--tls-key",
            str(key_path),
        ],
        cwd=ROOT,
        env={**os.environ, "BMC_PASSWORD": PASSWORD},
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_for_tls(port, time.monotonic() + 60)
        yield port, str(ca_path), str(other_ca_path)
    finally:
        child.terminate()
        child.wait(timeout=10)


def tls_target(port: int, verify: bool | str) -> BmcTarget:
    # A bare address: Kennel speaks HTTPS to it, as to a real BMC.
    return BmcTarget(BmcProtocol.REDFISH, "127.0.0.1", port, USERNAME, PASSWORD, verify=verify)


def test_with_its_ca_bundle_the_certificate_verifies_and_the_bmc_is_read(tls_bmc):
    port, ca, _other = tls_bmc
    assert gateway_for("redfish").read_state(tls_target(port, ca), timeout=10).power == PowerState.ON


def test_without_verification_a_certificate_of_any_issuer_is_accepted(tls_bmc):
    port, _ca, _other = tls_bmc
    assert gateway_for("redfish").read_state(tls_target(port, False), timeout=10).power == PowerState.ON


@pytest.mark.parametrize("which", ["system CAs", "another CA"])
def test_a_certificate_that_does_not_verify_is_an_error_saying_so_not_unreachable(tls_bmc, which):
    port, _ca, other = tls_bmc
    verify = True if which == "system CAs" else other
    with pytest.raises(BmcError, match="certificate did not verify") as failure:
        gateway_for("redfish").read_state(tls_target(port, verify), timeout=10)
    assert type(failure.value) is BmcError
    assert PASSWORD not in str(failure.value)


def test_the_gateway_hands_the_choice_to_sushy(bmcs):
    spec = bmcs["redfish"]
    base = target_of(spec)
    for verify in (False, True, "/etc/ssl/certs/ca-certificates.crt"):
        target = BmcTarget(
            base.protocol, base.address, base.port, base.username, base.password, verify=verify
        )
        assert _connect(target, 5)._conn._verify == verify


@pytest.mark.parametrize(
    ("choice", "setting", "bundle", "expected"),
    [
        ("", False, "", False),  # the default: self-signed BMCs work out of the box
        ("", True, "", True),
        ("", True, "CA", "CA"),
        ("verify", False, "", True),
        ("verify", False, "CA", "CA"),
        ("skip", True, "CA", False),
    ],
)
def test_the_servers_choice_wins_over_the_setting(settings, tmp_path, choice, setting, bundle, expected):
    bundle_path = tmp_path / "ca.pem"
    settings.KENNEL_BMC_TLS_VERIFY = setting
    settings.KENNEL_BMC_CA_BUNDLE = str(bundle_path) if bundle else ""
    server = ServerFactory(bmc_tls_verify=choice)
    assert services.bmc_tls_verify(server) == (str(bundle_path) if expected == "CA" else expected)


def test_a_poll_verifies_with_the_configured_bundle_and_says_why_it_fails_without(tls_bmc, settings):
    port, ca, _other = tls_bmc
    server = services.server_bmc_set(
        actor=None,
        server=ServerFactory(name="TLS1"),
        protocol="redfish",
        address="127.0.0.1",
        port=port,
        username=USERNAME,
        password=PASSWORD,
        tls_verify=BmcTlsVerifyChoice.VERIFY,
    )
    settings.KENNEL_BMC_CA_BUNDLE = ca
    services.bmc_poll_all(timeout=10)
    state = HardwareState.objects.get(server=server)
    assert (state.reachable, state.power_state, state.error) == (True, "on", "")

    settings.KENNEL_BMC_CA_BUNDLE = ""  # the system's CAs do not know the throwaway CA
    services.bmc_poll_all(timeout=10)
    state.refresh_from_db()
    assert not state.reachable and "certificate did not verify" in state.error
