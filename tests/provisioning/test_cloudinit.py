"""Cloud-init profiles: each part's form, rendering, stored JSON, and cloud-init's own schema.

The property tests feed hostile text into every field a person can type into: whatever the field, the
form either refuses it on that field, or the rendered user-data parses back to exactly the mapping that
was built (nothing injected) and passes cloud-init's schema.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from passlib.hash import sha512_crypt

from provisioning import cloudinit
from provisioning.cloudinit import ExtraConfigForm, ProfileError

property_test = settings(
    max_examples=60,
    deadline=None,
    # The autouse settings fixture in tests/conftest.py is function-scoped; it only pins the language.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HOSTILE = [
    "'",
    '"',
    "\\",
    "\n",
    "\r\n",
    "#cloud-config",
    "\n#cloud-config\nusers: [{name: evil}]",
    "&a",
    "*a",
    "&a [1] *a",
    "!!python/object:os.system",
    "!!python/object/apply:os.system ['id']",
    "{{ x }}",
    "${HOME}",
    "- runcmd",
    "evil: key",
    ": ",
    "? ",
    "| ",
    ">-",
    "%YAML 1.1",
    "---",
    "...",
    "~",
    "null",
    "yes",
    "0o644",
    "\t",
    "\x01\x1b[31m",
    "\x7f\x85\u2028\u2029",
    "\ufeff",
    "名字 ✓ é",
    "\U0001d518\U0001d52b\U0001d526",  # mathematical letters outside the BMP
    " ",
]
# Any text without NUL (Django refuses NUL in every CharField) or lone surrogates (not encodable).
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
HOSTILE_TEXT = st.one_of(
    st.sampled_from(HOSTILE),
    ANY_TEXT,
    st.lists(st.one_of(st.sampled_from(HOSTILE), ANY_TEXT), min_size=2, max_size=4).map("".join),
)
CLI_TREE = Path(django_settings.KENNEL_CLOUDINIT_SCHEMA).parent / "tree"


def _openssh(public_key: Any) -> str:
    return public_key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


ED25519_KEY = _openssh(ed25519.Ed25519PrivateKey.generate().public_key()) + " dev1@laptop"
RSA_KEY = _openssh(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())
ECDSA_KEY = _openssh(ec.generate_private_key(ec.SECP256R1()).public_key()) + " ci"

VALID = {
    "proxy": {"host": "proxy.dc1.example", "port": "3128", "no_proxy": ".dc1.example\n10.0.0.0/8\nlocalhost"},
    "proxytunnel": {
        "proxy_host": "proxy.dc1.example",
        "proxy_port": "3128",
        "host_patterns": "github.com\n*.example.org",
    },
    "dns": {"nameservers": "10.0.0.2\n10.0.0.3", "search_domains": "dc1.example\nexample.org"},
    "yum_repo": {
        "repo_id": "epel",
        "name": "EPEL 9",
        "baseurls": "x86_64 http://mirror.dc1.example/epel/9/x86_64/\nppc64le http://mirror.dc1.example/epel/9/ppc64le/",
        "enabled": "on",
        "gpgcheck": "on",
        "gpgkey": "file:///etc/pki/rpm-gpg/RPM-GPG-KEY-EPEL-9",
    },
    "user": {
        "name": "dev1",
        "gecos": "Dev One",
        "password": "correct horse",
        "ssh_authorized_keys": f"{ED25519_KEY}\n{RSA_KEY}",
        "sudo": "on",
        "shell": "/bin/bash",
    },
    "packages": {"packages": "vim\ngit\npython3.11", "package_update": "on"},
    "extra": {"yaml_text": "runcmd:\n  - [touch, /root/ready]\npackages: [tmux]\n"},
}
# Which top-level keys each kind may contribute (the no-injection check).
KEYS = {
    "proxy": {"write_files"},
    "proxytunnel": {"packages", "write_files"},
    "dns": {"manage_resolv_conf", "resolv_conf", "write_files", "runcmd"},
    "yum_repo": {"yum_repos"},
    "user": {"users"},
    "packages": {"packages", "package_update"},
}


def form_for(kind: str, **changes: Any) -> cloudinit.PartForm:
    return cloudinit.PART_FORMS[kind](data={**VALID[kind], **changes})


def part_for(kind: str, **changes: Any) -> cloudinit.Part:
    form = form_for(kind, **changes)
    assert form.is_valid(), form.errors
    return form.part()


def errors_for(kind: str, **changes: Any) -> dict[str, list[str]]:
    form = form_for(kind, **changes)
    assert not form.is_valid()
    return {name: [str(message) for message in messages] for name, messages in form.errors.items()}


def render(parts, architecture="x86_64", hostname="vm-1", **kwargs) -> tuple[str, dict]:
    config = cloudinit.build_cloud_config(parts, architecture=architecture, hostname=hostname, **kwargs)
    text = cloudinit.render_user_data(parts, architecture=architecture, hostname=hostname, **kwargs)
    return text, config


def assert_round_trip(text: str, config: dict) -> None:
    """The emitted YAML means exactly the mapping that was built, and cloud-init's schema accepts it."""
    assert text.startswith("#cloud-config\n")
    assert yaml.safe_load(text) == config
    assert cloudinit.validate_user_data(text) == []


def full_profile() -> list[cloudinit.Part]:
    return [part_for(kind) for kind in VALID]


# --- each part's form --------------------------------------------------------------------------------


class TestProxy:
    def test_it_applies_the_proxy_to_the_environment_yum_and_pip(self):
        config = part_for("proxy").to_cloud_config("x86_64")
        files = {entry["path"]: entry for entry in config["write_files"]}
        assert "https_proxy=http://proxy.dc1.example:3128\n" in files["/etc/environment"]["content"]
        assert "no_proxy=.dc1.example,10.0.0.0/8,localhost\n" in files["/etc/environment"]["content"]
        assert files["/etc/environment"]["append"] is True
        assert files["/etc/yum.conf"]["content"] == "\nproxy=http://proxy.dc1.example:3128\n"
        assert files["/etc/pip.conf"]["content"] == "[global]\nproxy = http://proxy.dc1.example:3128\n"

    def test_it_brackets_an_ipv6_proxy(self):
        assert part_for("proxy", host="fd00::3").url == "http://[fd00::3]:3128"

    @pytest.mark.parametrize("port", ["0", "65536", "-1", "squid"])
    def test_it_rejects_a_port_out_of_range(self, port):
        assert list(errors_for("proxy", port=port)) == ["port"]

    @pytest.mark.parametrize(
        ("entry", "message"),
        [
            ("10.0.0.0/33", "CIDR"),
            ("10.1.2.3/8", "CIDR"),  # host bits set: almost always a typo
            ("10.0.0/8", "CIDR"),
            ("dc1.example/24", "CIDR"),
            ("bad host", "host name"),
            ("-leading.example", "host name"),
            ("under_score.example", "host name"),
        ],
    )
    def test_it_rejects_bad_no_proxy_entries(self, entry, message):
        errors = errors_for("proxy", no_proxy=f"localhost\n{entry}")
        assert list(errors) == ["no_proxy"]
        assert entry in errors["no_proxy"][0] and message in errors["no_proxy"][0]

    def test_it_accepts_domains_addresses_and_networks(self):
        part = part_for("proxy", no_proxy=".example.org\n192.168.1.10\nfd00::/8\n*\n")
        assert part.no_proxy == (".example.org", "192.168.1.10", "fd00::/8", "*")


class TestProxytunnel:
    def test_it_installs_proxytunnel_and_writes_a_proxy_command(self):
        config = part_for("proxytunnel").to_cloud_config("ppc64le")
        assert config["packages"] == ["proxytunnel"]
        [entry] = config["write_files"]
        assert entry["path"] == "/etc/ssh/ssh_config.d/proxytunnel.conf"
        assert "Host github.com *.example.org\n" in entry["content"]
        assert "    ProxyCommand proxytunnel -p proxy.dc1.example:3128 -d %h:%p\n" in entry["content"]

    def test_it_needs_at_least_one_host(self):
        assert list(errors_for("proxytunnel", host_patterns="")) == ["host_patterns"]

    def test_a_pattern_cannot_smuggle_another_ssh_option(self):
        errors = errors_for("proxytunnel", host_patterns="github.com\n  ProxyCommand sh -c evil")
        assert list(errors) == ["host_patterns"]


class TestDns:
    def test_it_sets_resolv_conf_and_networkmanagers_global_dns(self):
        config = part_for("dns").to_cloud_config("x86_64")
        assert config["manage_resolv_conf"] is True
        assert config["resolv_conf"] == {
            "nameservers": ["10.0.0.2", "10.0.0.3"],
            "searchdomains": ["dc1.example", "example.org"],
        }
        [entry] = config["write_files"]
        assert entry["path"] == "/etc/NetworkManager/conf.d/90-kennel-dns.conf"
        assert "searches=dc1.example,example.org\n" in entry["content"]
        assert "[global-dns-domain-*]\nservers=10.0.0.2,10.0.0.3\n" in entry["content"]

    @pytest.mark.parametrize(
        "nameservers", ["dns.dc1.example", "10.0.0.256", "", "10.0.0.1\n10.0.0.2\n10.0.0.3\n10.0.0.4"]
    )
    def test_it_rejects_bad_nameservers(self, nameservers):
        assert list(errors_for("dns", nameservers=nameservers)) == ["nameservers"]

    def test_it_rejects_a_bad_search_domain(self):
        assert list(errors_for("dns", search_domains="dc1.example\nnot a domain")) == ["search_domains"]


class TestYumRepo:
    @pytest.mark.parametrize(
        ("arch", "url"),
        [
            ("x86_64", "http://mirror.dc1.example/epel/9/x86_64/"),
            ("ppc64le", "http://mirror.dc1.example/epel/9/ppc64le/"),
        ],
    )
    def test_it_picks_the_base_url_of_the_vms_architecture(self, arch, url):
        repo = part_for("yum_repo").to_cloud_config(arch)["yum_repos"]["epel"]
        assert repo == {
            "name": "EPEL 9",
            "baseurl": url,
            "enabled": True,
            "gpgcheck": True,
            "gpgkey": "file:///etc/pki/rpm-gpg/RPM-GPG-KEY-EPEL-9",
        }

    def test_a_star_url_serves_every_other_architecture(self):
        part = part_for("yum_repo", baseurls="ppc64le http://a.example/p/\n* http://a.example/$basearch/")
        assert part.to_cloud_config("ppc64le")["yum_repos"]["epel"]["baseurl"] == "http://a.example/p/"
        assert part.to_cloud_config("ppc64")["yum_repos"]["epel"]["baseurl"] == "http://a.example/$basearch/"

    def test_a_repository_without_the_vms_architecture_is_left_out(self):
        part = part_for("yum_repo")
        assert part.to_cloud_config("ppc64") == {}
        _text, config = render([part], architecture="ppc64")
        assert "yum_repos" not in config

    def test_a_required_repository_without_the_vms_architecture_refuses_to_render(self):
        part = part_for("yum_repo", required="on")
        with pytest.raises(ProfileError) as caught:
            cloudinit.render_user_data([part], architecture="ppc64", hostname="vm-1")
        assert caught.value.messages == ["Repository epel has no base URL for ppc64."]

    def test_a_direct_repository_bypasses_the_proxy(self):
        assert (
            part_for("yum_repo", direct="on").to_cloud_config("x86_64")["yum_repos"]["epel"]["proxy"]
            == "_none_"
        )

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"baseurls": "x86_64 not-a-url"}, "baseurls"),
            ({"baseurls": "x86 64 http://a.example/"}, "baseurls"),
            ({"baseurls": "x86_64 http://a.example/\nx86_64 http://b.example/"}, "baseurls"),
            ({"baseurls": "x86_64"}, "baseurls"),
            ({"baseurls": ""}, "baseurls"),
            ({"repo_id": "my repo"}, "repo_id"),
            ({"repo_id": "../etc"}, "repo_id"),
            ({"name": "EPEL\ngpgcheck=0"}, "name"),
            ({"gpgkey": ""}, "gpgkey"),
            ({"gpgkey": "javascript:alert(1)"}, "gpgkey"),
        ],
    )
    def test_it_rejects_bad_repositories(self, changes, field):
        assert list(errors_for("yum_repo", **changes)) == [field]


class TestUser:
    def test_the_password_is_kept_only_as_a_sha512_crypt_hash(self):
        form = form_for("user", password="correct horse")
        assert form.is_valid(), form.errors
        part = form.part()
        assert "password" not in form.cleaned_data
        assert part.hashed_passwd.startswith("$6$rounds=")
        assert sha512_crypt.verify("correct horse", part.hashed_passwd)
        stored = json.dumps(cloudinit.profile_to_data([part]))
        text, _config = render([part])
        assert "correct horse" not in stored and "correct horse" not in text
        assert "plain_text_passwd" not in text and "passwd: correct" not in text

    def test_it_renders_a_cloud_init_user_after_the_default_one(self):
        part = part_for("user")
        _text, config = render([part])
        default, user = config["users"]
        assert default == "default"
        assert user == {
            "name": "dev1",
            "gecos": "Dev One",
            "shell": "/bin/bash",
            "hashed_passwd": part.hashed_passwd,
            "lock_passwd": False,
            "sudo": "ALL=(ALL) NOPASSWD:ALL",
            "ssh_authorized_keys": [ED25519_KEY, RSA_KEY],
        }

    def test_without_a_password_the_account_stays_locked_and_without_sudo(self):
        _text, config = render([part_for("user", password="", sudo="")])
        user = config["users"][1]
        assert "hashed_passwd" not in user and "lock_passwd" not in user and "sudo" not in user

    def test_editing_without_a_new_password_keeps_the_stored_hash(self):
        stored = part_for("user")
        edited = part_for("user", password="", hashed_passwd=stored.hashed_passwd, gecos="Dev 1")
        assert edited.hashed_passwd == stored.hashed_passwd

    def test_a_new_password_replaces_the_stored_hash(self):
        stored = part_for("user")
        edited = part_for("user", password="battery staple", hashed_passwd=stored.hashed_passwd)
        assert sha512_crypt.verify("battery staple", edited.hashed_passwd)

    def test_it_rejects_a_hash_that_is_not_sha512_crypt(self):
        assert list(errors_for("user", password="", hashed_passwd="$1$abc$def")) == ["hashed_passwd"]

    @pytest.mark.parametrize(
        ("key", "message"),
        [
            ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "must start with its type"),
            ("AAAAC3NzaC1lZDI1NTE5AAAAI", "must start with its type"),
            ('from="10.0.0.0/8" ' + ED25519_KEY, "must start with its type"),
            ("ssh-ed25519 not*base64", "not valid base64"),
            ("ssh-ed25519 " + RSA_KEY.split()[1], "not valid base64"),  # an RSA body under an ed25519 type
            ("ssh-ed25519 " + ED25519_KEY.split()[1][:30], "not valid base64"),  # truncated
        ],
    )
    def test_it_rejects_a_bad_ssh_key(self, key, message):
        errors = errors_for("user", ssh_authorized_keys=key)
        assert list(errors) == ["ssh_authorized_keys"]
        assert message in errors["ssh_authorized_keys"][0]

    def test_it_accepts_ed25519_rsa_and_ecdsa_keys(self):
        part = part_for("user", ssh_authorized_keys=f"{ED25519_KEY}\n\n{RSA_KEY}\r\n{ECDSA_KEY}\n")
        assert part.ssh_authorized_keys == (ED25519_KEY, RSA_KEY, ECDSA_KEY)

    @pytest.mark.parametrize("name", ["Dev1", "1dev", "dev one", "dev:1", "a" * 33, "root\nevil"])
    def test_it_rejects_a_bad_user_name(self, name):
        assert list(errors_for("user", name=name)) == ["name"]

    @pytest.mark.parametrize("gecos", ["Dev:One", "Dev\nOne", "Dev\x1bOne"])
    def test_the_full_name_cannot_break_the_passwd_line(self, gecos):
        assert list(errors_for("user", gecos=gecos)) == ["gecos"]

    def test_it_rejects_a_relative_shell(self):
        assert list(errors_for("user", **{"shell": "bash"})) == ["shell"]

    def test_it_rejects_text_that_is_not_unicode(self):
        assert list(errors_for("user", gecos="Dev \ud800")) == ["gecos"]
        assert list(errors_for("user", password="pw\ud800")) == ["password"]


class TestPackages:
    def test_it_installs_the_packages_after_updating(self):
        assert part_for("packages").to_cloud_config("x86_64") == {
            "package_update": True,
            "packages": ["vim", "git", "python3.11"],
        }

    @pytest.mark.parametrize(
        "name", ["-oDebug::pkgProblemResolver=1", "vim;reboot", "vim git", "vim\tgit", "$(id)"]
    )
    def test_it_rejects_a_bad_package_name(self, name):
        errors = errors_for("packages", packages=f"vim\n{name}")
        assert list(errors) == ["packages"]


class TestExtraConfig:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("- a\n- b\n", "must be a mapping"),
            ("just text", "must be a mapping"),
            ("1: one\n", "must be a mapping"),
            ("a: [1\n", "not valid YAML"),
            ("a: !!python/object/apply:os.system ['id']\n", "not valid YAML"),
            ("base: &b {x: 1}\nother: *b\n", "anchors and aliases"),
            ("when: 2024-01-01\n", "quote dates"),
            ("yaml: \ud800\n", "not valid Unicode"),
        ],
    )
    def test_it_rejects_what_is_not_a_schema_valid_mapping(self, text, message):
        errors = errors_for("extra", yaml_text=text)
        assert list(errors) == ["yaml_text"]
        assert any(message in error for error in errors["yaml_text"]), errors

    def test_the_merged_document_is_what_the_schema_judges(self):
        extra = part_for("extra", yaml_text="packages: {vim: latest}\nusers: [{name: x, bogus: 1}]\n")
        errors = cloudinit.validate_user_data(render([part_for("packages"), extra])[0])
        assert any(error.startswith("users.0: ") for error in errors), errors
        assert any("packages: {'vim': 'latest'} is not of type 'array'" in error for error in errors), errors

    def test_it_is_merged_last_lists_appended_mappings_merged_scalars_replaced(self):
        extra = part_for(
            "extra",
            yaml_text=(
                "packages: [tmux, vim]\n"
                "package_update: false\n"
                "yum_repos: {epel: {enabled: false}, local: {baseurl: 'http://r.example/'}}\n"
                "hostname: renamed\n"
            ),
        )
        # The expert part comes first in the profile and still wins.
        _text, config = render([extra, part_for("packages"), part_for("yum_repo")], extra_packages=["htop"])
        assert config["packages"] == ["vim", "git", "python3.11", "htop", "tmux"]
        assert config["package_update"] is False
        assert config["yum_repos"]["epel"]["enabled"] is False
        assert config["yum_repos"]["epel"]["baseurl"] == "http://mirror.dc1.example/epel/9/x86_64/"
        assert config["yum_repos"]["local"] == {"baseurl": "http://r.example/"}
        assert config["hostname"] == "renamed"

    def test_merge_rule(self):
        base = {"a": [1, 2], "b": {"c": 1, "d": [1]}, "e": "x", "f": [1]}
        extra = {"a": [2, 3], "b": {"d": [2], "g": True}, "e": "y", "f": {"now": "a mapping"}}
        assert cloudinit.merge_cloud_config(base, extra) == {
            "a": [1, 2, 3],
            "b": {"c": 1, "d": [1, 2], "g": True},
            "e": "y",
            "f": {"now": "a mapping"},
        }
        assert base["a"] == [1, 2]  # inputs untouched


# --- rendering, storage, validation ------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["x86_64", "ppc64le"])
def test_a_full_profile_renders_schema_valid_user_data(arch):
    text, config = render(
        full_profile(), architecture=arch, extra_ssh_keys=[ECDSA_KEY], extra_packages=["htop"]
    )
    assert text.splitlines()[0] == "#cloud-config"
    assert_round_trip(text, config)
    assert next(iter(config)) == "hostname"
    assert config["users"][0] == "default" and config["users"].count("default") == 1
    assert config["ssh_authorized_keys"] == [ECDSA_KEY]
    assert config["packages"] == ["proxytunnel", "vim", "git", "python3.11", "htop", "tmux"]
    assert config["runcmd"][-1] == ["touch", "/root/ready"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hostname": "vm_1"}, "not a host name"),
        ({"architecture": "x86 64"}, "not an architecture"),
        ({"extra_ssh_keys": ["ssh-rsa AAAA"]}, "not valid base64"),
        ({"extra_ssh_keys": [ED25519_KEY + "\n" + RSA_KEY]}, "Line breaks"),
        ({"extra_packages": ["--nogpgcheck"]}, "not a package name"),
    ],
)
def test_the_requests_own_values_are_checked_before_rendering(kwargs, message):
    with pytest.raises(ProfileError) as caught:
        cloudinit.render_user_data(full_profile(), **{"architecture": "x86_64", "hostname": "vm-1", **kwargs})
    assert any(message in error for error in caught.value.messages)


def test_a_stored_profile_round_trips_through_json():
    parts = full_profile()
    data = json.loads(json.dumps(cloudinit.profile_to_data(parts)))
    assert [entry["kind"] for entry in data] == list(VALID)
    assert all(entry["version"] == 1 for entry in data)
    assert data[0] == {
        "kind": "proxy",
        "version": 1,
        "host": "proxy.dc1.example",
        "port": 3128,
        "no_proxy": [".dc1.example", "10.0.0.0/8", "localhost"],
    }
    assert cloudinit.profile_from_data(data) == parts
    assert render(cloudinit.profile_from_data(data))[0] == render(parts)[0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "proxy"}, "must be a list"),
        ([{"kind": "telnet", "version": 1}], "Part 1 is of an unknown kind"),
        ([{"kind": "proxy", "version": 2, "host": "p.example", "port": 3128}], "unsupported version"),
        (
            [
                {"kind": "packages", "version": 1},
                {"kind": "proxy", "version": 1, "host": "p.example", "port": 0},
            ],
            "Part 2 (proxy) is not valid: port",
        ),
        (
            [{"kind": "user", "version": 1, "name": "dev1", "shell": "/bin/sh", "hashed_passwd": "plain"}],
            "hashed_passwd",
        ),
    ],
)
def test_a_stored_profile_is_revalidated_on_load(data, message):
    with pytest.raises(ValidationError) as caught:
        cloudinit.profile_from_data(data)
    assert message in caught.value.messages[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hostname: a\n", "must start with a #cloud-config line"),
        ("#cloud-config\n- a\n", "must be a mapping"),
        ("#cloud-config\na: [\n", "not valid YAML"),
        ("#cloud-config\nusers: 3\npackages: {a: 1}\n", "packages: {'a': 1} is not of type 'array'"),
        ("#cloud-config\nwrite_files: [{content: x}]\n", "write_files.0: 'path' is a required property"),
        ("#cloud-config\nruncmd: ['" + "x" * 50_000 + "']\n", "Nova accepts at most 65535"),
    ],
)
def test_validate_user_data_reports_what_is_wrong(text, message):
    errors = cloudinit.validate_user_data(text)
    assert any(message in error for error in errors), errors


def test_unknown_top_level_keys_pass_as_in_cloud_init():
    assert cloudinit.validate_user_data("#cloud-config\nkennel_note: hello\n") == []


# --- property tests: hostile text in every typed field ------------------------------------------------

# (kind, field, how the hostile text is put into it)
TYPED_FIELDS = [
    ("proxy", "host", lambda s: s),
    ("proxy", "no_proxy", lambda s: f"localhost\n{s}"),
    ("proxytunnel", "host_patterns", lambda s: f"github.com\n{s}"),
    ("dns", "search_domains", lambda s: s),
    ("yum_repo", "repo_id", lambda s: s),
    ("yum_repo", "name", lambda s: s),
    ("yum_repo", "baseurls", lambda s: f"x86_64 http://mirror.example/{s}"),
    ("yum_repo", "gpgkey", lambda s: f"http://mirror.example/{s}"),
    ("user", "name", lambda s: s),
    ("user", "gecos", lambda s: s),
    ("user", "shell", lambda s: s),
    ("user", "ssh_authorized_keys", lambda s: f"{RSA_KEY} {s}"),  # the key's comment
    ("packages", "packages", lambda s: s),
]


@pytest.mark.parametrize(
    ("kind", "field", "inject"), TYPED_FIELDS, ids=[f"{k}.{f}" for k, f, _ in TYPED_FIELDS]
)
@property_test
@given(hostile=HOSTILE_TEXT)
def test_hostile_text_is_refused_on_its_field_or_rendered_exactly(kind, field, inject, hostile):
    changes = {field: inject(hostile)}
    if kind == "user":
        changes["password"] = ""  # hashing is tested on its own; keep these fast
    form = form_for(kind, **changes)
    if not form.is_valid():
        assert list(form.errors) == [field]
        return
    part = form.part()
    text, config = render([part])
    assert_round_trip(text, config)
    assert set(config) <= {"hostname"} | KEYS[kind]
    # What was accepted is what is stored and what is rendered.
    assert cloudinit.profile_from_data(json.loads(json.dumps(cloudinit.profile_to_data([part])))) == [part]


@property_test
@given(
    hostile=st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=20
    )
)
def test_free_text_without_control_characters_is_kept_verbatim(hostile):
    """A repository name, a full name and a key comment accept quotes, YAML syntax and any script."""
    if cloudinit._has_control_character(hostile) or ":" in hostile or hostile != hostile.strip():
        return
    repo = part_for("yum_repo", name=hostile)
    user = part_for("user", gecos=hostile, password="", ssh_authorized_keys=f"{RSA_KEY} {hostile}")
    text, config = render([repo, user])
    assert_round_trip(text, config)
    assert config["yum_repos"]["epel"]["name"] == hostile
    assert config["users"][1]["gecos"] == hostile
    assert config["users"][1]["ssh_authorized_keys"] == [f"{RSA_KEY} {hostile}"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    password=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
)
def test_any_password_is_rendered_only_as_its_hash(password):
    marked = f"PW-{password}-PW"  # "-" never occurs in a crypt hash, so the marker cannot appear by chance
    # glibc's default cost: the cost is not what this tests, and 100,000 rounds per example add up.
    with mock.patch.object(cloudinit.validators, "PASSWORD_HASH_ROUNDS", 5000):
        part = part_for("user", password=marked)
    text, config = render([part])
    assert_round_trip(text, config)
    assert marked not in text and marked not in json.dumps(cloudinit.profile_to_data([part]))
    assert sha512_crypt.verify(marked, config["users"][1]["hashed_passwd"])


@property_test
@given(hostname=HOSTILE_TEXT)
def test_a_hostile_hostname_is_refused_or_rendered_exactly(hostname):
    try:
        text, config = render([part_for("packages")], hostname=hostname)
    except ProfileError:
        return
    assert_round_trip(text, config)
    assert config["hostname"] == hostname


JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**31), 2**31), HOSTILE_TEXT),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(HOSTILE_TEXT, children, max_size=4)
    ),
    max_leaves=12,
)


@property_test
@given(key=HOSTILE_TEXT, value=JSONISH, content=HOSTILE_TEXT, command=HOSTILE_TEXT)
def test_expert_yaml_full_of_hostile_strings_renders_exactly(key, value, content, command):
    expert = {
        f"kennel_{key}": value,  # unknown top-level keys pass cloud-init's schema
        "write_files": [{"path": "/etc/motd", "content": content}],
        "runcmd": [["echo", command], command],
    }
    # Escaped, not raw: PyYAML writes NEL (U+0085) raw inside a quoted scalar with allow_unicode=True, and
    # any YAML reader folds it into a space, so that text would not say what this test means it to say.
    form = ExtraConfigForm(data={"yaml_text": yaml.safe_dump(expert, allow_unicode=False)})
    assert form.is_valid(), form.errors
    text, config = render([part_for("dns"), form.part()])
    assert_round_trip(text, config)
    assert config[f"kennel_{key}"] == value
    assert config["write_files"][-1] == {"path": "/etc/motd", "content": content}
    assert set(config) == {
        "hostname",
        f"kennel_{key}",
        "write_files",
        "runcmd",
        "manage_resolv_conf",
        "resolv_conf",
    }


@property_test
@given(text=HOSTILE_TEXT)
def test_any_expert_text_is_refused_on_its_field_or_rendered_exactly(text):
    form = ExtraConfigForm(data={"yaml_text": text})
    if not form.is_valid():
        assert list(form.errors) == ["yaml_text"]
        return
    rendered, config = render([form.part()])
    assert_round_trip(rendered, config)


# --- cross-check with the real `cloud-init schema` ---------------------------------------------------


def cloud_init_schema_cli(path: Path) -> subprocess.CompletedProcess[str]:
    """cloud-init 22.4's own CLI from the unpacked Debian package (scripts/cloudinit-schema.sh), run by this
    venv's Python: Debian's python3 lacks jsonschema, requests and jinja2, and installing the package
    would enable its boot services."""
    site = CLI_TREE / "usr/lib/python3/dist-packages"
    return subprocess.run(
        [sys.executable, str(CLI_TREE / "usr/bin/cloud-init"), "schema", "--config-file", str(path)],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(not (CLI_TREE / "usr/bin/cloud-init").exists(), reason="run scripts/cloudinit-schema.sh")
def test_the_real_cloud_init_cli_agrees(tmp_path):
    hostile = "'\"#cloud-config\n&a *a !!python/object: 名字"
    documents = {
        "x86_64.yaml": render(full_profile(), architecture="x86_64", extra_ssh_keys=[ECDSA_KEY])[0],
        "ppc64le.yaml": render(full_profile(), architecture="ppc64le", extra_packages=["htop"])[0],
        "hostile.yaml": render(
            [
                part_for("yum_repo", name=hostile.replace("\n", " ")),
                part_for(
                    "extra", yaml_text=yaml.safe_dump({"write_files": [{"path": "/x", "content": hostile}]})
                ),
            ]
        )[0],
    }
    for name, text in documents.items():
        path = tmp_path / name
        path.write_text(text)
        result = cloud_init_schema_cli(path)
        assert result.returncode == 0, (name, result.stdout, result.stderr)
        assert "Valid cloud-config" in result.stdout
    # And it fails what our validation fails.
    bad = tmp_path / "bad.yaml"
    bad.write_text("#cloud-config\npackages: {a: 1}\n")
    result = cloud_init_schema_cli(bad)
    assert result.returncode == 1 and "packages" in result.stdout + result.stderr
    assert cloudinit.validate_user_data(bad.read_text()) != []


@pytest.mark.parametrize("breaker", ["\x85", "\u2028", "\u2029", "\ufeff"])
def test_unicode_line_breaks_survive_the_emitter_in_keys_and_values(breaker):
    # Found by the property test above: YAML readers fold NEL/LS/PS that PyYAML writes raw.
    expert = {f"kennel_{breaker}": breaker, "write_files": [{"path": "/etc/motd", "content": f"a{breaker}b"}]}
    form = ExtraConfigForm(data={"yaml_text": yaml.safe_dump(expert, allow_unicode=False)})
    assert form.is_valid(), form.errors
    text, config = render([part_for("dns"), form.part()])
    assert_round_trip(text, config)
    assert config[f"kennel_{breaker}"] == breaker
    assert config["write_files"][-1]["content"] == f"a{breaker}b"
