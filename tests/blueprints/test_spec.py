"""A blueprint's recipe: validation, typed parameters, safe substitution, rendering through the
cloud-init parts (checked against cloud-init's schema) and YAML export and import."""

from __future__ import annotations

import copy

import pytest
import yaml
from django.core.exceptions import ValidationError

from blueprints.documents import document_dump, document_parse
from blueprints.rendering import ServicePart, user_data_preview, user_data_render
from blueprints.services import EXAMPLES_DIR
from blueprints.spec import parameters_clean, spec_clean
from provisioning import cloudinit

BASE = {
    "architectures": {"x86_64": {"image": "centos-stream-9-x86_64", "flavor": "m1.small"}},
    "parameters": [
        {"name": "port", "type": "port", "default": 8080},
        {"name": "url", "type": "url"},
        {"name": "users", "type": "users", "default": []},
        {"name": "domains", "type": "domains", "default": ["example.org"]},
        {"name": "label", "type": "string", "pattern": "[a-z]+", "default": "web"},
        {"name": "workers", "type": "integer", "min": 1, "max": 8, "default": 2},
    ],
    "packages": ["nginx"],
    "files": [
        {"path": "/etc/app.conf", "content": "port={{ port }}\nurl={{url}}\nusers={{ users|comma }}\n"}
    ],
    "units": [{"name": "app.service", "content": "[Service]\nExecStart=/bin/app {{ label }}\n"}],
    "commands": [["echo", "{{ url }}"]],
    "ports": [{"port": "{{ port }}", "protocol": "tcp"}],
}


def problems(data) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        spec_clean(data)
    return caught.value.messages


def test_a_valid_spec_is_normalised_with_defaults_filled_in():
    spec = spec_clean(BASE)
    assert spec["files"][0]["permissions"] == "0644" and spec["files"][0]["owner"] == "root:root"
    assert spec["units"][0]["enable"] is True and spec["profile"] is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(architectures={"sparc": {"image": "a", "flavor": "b"}}), "architectures.sparc"),
        (lambda d: d.update(architectures={}), "architectures"),
        (lambda d: d["files"].append({"path": "/etc/../shadow", "content": ""}), "files[1].path"),
        (lambda d: d["files"].append({"path": "relative", "content": ""}), "files[1].path"),
        (lambda d: d["files"][0].update(content="{{ nope }}"), "{{ nope }} is not a parameter"),
        (lambda d: d["files"][0].update(content="{{ port|comma }}"), "only a list can be joined"),
        (lambda d: d["files"][0].update(permissions="777x"), "files[0].permissions"),
        (lambda d: d["commands"].append("rm -rf / && echo"), "never a shell line"),
        (lambda d: d["commands"].append(["echo", "a\nb"]), "commands[1]"),
        (lambda d: d["units"][0].update(name="app; rm"), "units[0].name"),
        (lambda d: d["packages"].append("-oDebug=1"), "packages[1]"),
        (lambda d: d["ports"].append({"port": "{{ url }}"}), "ports[1].port"),
        (lambda d: d["ports"].append({"port": 70000}), "ports[1].port"),
        (lambda d: d["parameters"].append({"name": "port", "type": "port"}), "given twice"),
        (lambda d: d["parameters"].append({"name": "x", "type": "float"}), "parameters[6].type"),
        (
            lambda d: d["parameters"].append({"name": "y", "type": "port", "default": 0}),
            "parameters[6].default",
        ),
        (lambda d: d.update(extra="x"), "Unknown keys: extra"),
    ],
)
def test_it_names_the_place_of_each_problem(change, expected):
    data = copy.deepcopy(BASE)
    change(data)
    assert any(expected in message for message in problems(data)), problems(data)


def test_parameter_values_are_validated_by_type():
    spec = spec_clean(BASE)
    with pytest.raises(ValidationError) as caught:
        parameters_clean(
            spec,
            {
                "port": "99999",
                "url": "javascript:alert(1)",
                "users": ["Root!"],
                "domains": ["bad domain"],
                "label": "UPPER",
                "workers": 9,
                "extra": 1,
            },
        )
    errors = caught.value.message_dict
    assert set(errors) == {"port", "url", "users", "domains", "label", "workers", "extra"}
    with pytest.raises(ValidationError) as caught:
        parameters_clean(spec, {})
    assert set(caught.value.message_dict) == {"url"}  # the one without a default
    clean = parameters_clean(spec, {"url": "https://ci.example/", "port": "8443", "users": "alice, bob"})
    assert clean["port"] == 8443 and clean["users"] == ["alice", "bob"] and clean["workers"] == 2


@pytest.mark.parametrize("hostile", ["a\nb", "x\r\ny: 1", "a\u2028b", "a\x00b", "ok\x1b[31m"])
def test_no_value_can_carry_a_line_break_or_control_character(hostile):
    spec = spec_clean(
        {
            **BASE,
            "parameters": [{"name": "label", "type": "string"}],
            "units": [],
            "files": [],
            "commands": [["echo", "{{ label }}"]],
            "ports": [],
        }
    )
    with pytest.raises(ValidationError):
        parameters_clean(spec, {"label": hostile})


def test_values_cannot_inject_yaml_or_shell():
    """What YAML and shells treat specially arrives as data: the emitter quotes it, commands stay
    argument lists (cloud-init quotes each one)."""
    spec = spec_clean(
        {
            **BASE,
            "parameters": [{"name": "label", "type": "string", "max_length": 100}],
            "units": [],
            "files": [{"path": "/etc/x", "content": "v={{ label }}"}],
            "commands": [["echo", "{{ label }}"]],
            "ports": [],
        }
    )
    hostile = "'; rm -rf / #\" runcmd: [reboot] }} {{ x"
    text = user_data_render(
        spec, architecture="x86_64", hostname="svc-x86-1", values=parameters_clean(spec, {"label": hostile})
    )
    config = yaml.safe_load(text)
    assert config["runcmd"][-1] == ["echo", hostile]
    assert config["write_files"][0]["content"] == f"v={hostile}"
    assert "reboot" not in config["runcmd"] and cloudinit.validate_user_data(text) == []


def test_rendering_goes_through_the_cloud_init_parts_and_its_schema(db):
    spec = spec_clean(BASE)
    values = parameters_clean(spec, {"url": "https://ci.example/", "users": ["alice", "bob"]})
    text = user_data_render(spec, architecture="x86_64", hostname="web-x86-1", values=values)
    assert text.startswith("#cloud-config\n") and cloudinit.validate_user_data(text) == []
    config = yaml.safe_load(text)
    assert config["hostname"] == "web-x86-1" and config["packages"] == ["nginx"]
    files = {f["path"]: f["content"] for f in config["write_files"]}
    assert files["/etc/app.conf"] == "port=8080\nurl=https://ci.example/\nusers=alice,bob\n"
    assert files["/etc/systemd/system/app.service"] == "[Service]\nExecStart=/bin/app web\n"
    assert config["runcmd"][0] == ["echo", "https://ci.example/"]
    assert ["systemctl", "enable", "--now", "app.service"] in config["runcmd"]
    assert any("--add-port=8080/tcp" in " ".join(cmd) for cmd in config["runcmd"])
    with pytest.raises(ValidationError):
        user_data_render(spec, architecture="ppc64le", hostname="web-ppc-1", values=values)


def test_a_profile_is_merged_in_and_a_missing_one_refused(db):
    from kennel.demo import _demo_profile

    _demo_profile()
    spec = spec_clean({**BASE, "profile": "dc1-standard"})
    preview = user_data_preview(spec)
    config = yaml.safe_load(preview["x86_64"]["text"])
    assert (
        "team-base" in config["yum_repos"] and "nginx" in config["packages"] and "git" in config["packages"]
    )
    assert user_data_preview(spec_clean({**BASE, "profile": "gone"}))["x86_64"]["errors"]


def test_the_schema_refuses_what_cloud_init_would(db):
    """An expert could not break the schema through a blueprint: a unit with a bad key is caught."""
    spec = spec_clean(BASE)
    bad = ServicePart(spec=spec, values=parameters_clean(spec, {"url": "https://x.example/"}))
    config = cloudinit.build_cloud_config([bad], architecture="x86_64", hostname="h")
    config["write_files"][0]["permissions"] = 644  # cloud-init wants a string
    assert cloudinit.schema_errors(config)


def test_yaml_round_trips_and_errors_are_clear():
    text = (EXAMPLES_DIR / "ci-agent.yaml").read_text()
    document = document_parse(text)
    assert document.name == "ci-agent" and set(document.spec["architectures"]) == {"x86_64", "ppc64le"}
    again = document_parse(
        document_dump(name=document.name, description=document.description, spec=document.spec)
    )
    assert again == document
    with pytest.raises(ValidationError, match="anchors and aliases"):
        document_parse("a: &x [1]\nb: *x\n")
    with pytest.raises(ValidationError, match="not valid YAML"):
        document_parse("a: [1\n")
    with pytest.raises(ValidationError, match="must be a mapping"):
        document_parse("- 1\n")
    with pytest.raises(ValidationError, match="python"):  # safe_load builds no Python objects
        document_parse("kennel_blueprint: 1\nname: x\nthing: !!python/object/apply:os.system [id]\n")
    with pytest.raises(ValidationError) as caught:
        document_parse("kennel_blueprint: 2\nname: Bad_Name\narchitectures: {}\n")
    assert any("kennel_blueprint" in m for m in caught.value.messages)
    assert any(m.startswith("name:") for m in caught.value.messages)


def test_every_shipped_example_renders_valid_user_data_per_architecture(db):
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        document = document_parse(path.read_text())
        for arch, preview in user_data_preview(document.spec).items():
            assert preview["errors"] == [], (path.name, arch)
            assert cloudinit.validate_user_data(preview["text"]) == []
