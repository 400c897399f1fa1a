"""Each class of hostile input that once made the API answer 500, tried on every operation it applies
to (read from the OpenAPI schema, so a new endpoint is covered without being named here): the answer
is a 4xx that says why, never a server error."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from inventory import services as inventory_services
from inventory.models import Server
from portal.api.parsers import MAX_JSON_DEPTH, PG_INT_MAX
from provisioning import services as provisioning_services
from provisioning.models import VmRequest
from quotas.models import QuotaRule
from tests.portal.api.operations import openapi, operations, write_operations

pytestmark = pytest.mark.django_db


@pytest.fixture
def estate(shared_estate, db, clean_cache):
    """One estate for the module (each test's writes are rolled back); the login rate limit afresh."""
    return shared_estate


WRITES = write_operations()
READS = [op for op in operations() if op.method == "GET"]
WITH_ID = [op for op in operations() if op.parameters]
LOGIN = "/api/v1/auth/login/"


def as_role(estate, role: str = "admin") -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {estate.key(role)}")
    return api


def send(api: APIClient, operation, body: bytes | str, *, estate, content_type="application/json", **extra):
    url = operation.url(known=estate.known)
    return api.generic(operation.method, url, body, content_type=content_type, **extra)


def each(operations_, call) -> None:
    """``call(operation)`` on every operation; fails naming every operation whose answer was wrong."""
    wrong = []
    for operation in operations_:
        problem = call(operation)
        if problem:
            wrong.append(f"{operation}: {problem}")
    assert not wrong, "\n".join(wrong)


def refusal(response, words: str = "") -> str | None:
    """None when ``response`` is a 400 whose body says ``words``; else what it was."""
    if response.status_code != 400 or words not in json.dumps(response.json()):
        return f"{response.status_code} {response.content[:200]!r}"
    return None


def assert_refused(response, *, words: str = "") -> None:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    if words:
        assert words in json.dumps(response.json()), response.json()


def test_every_write_operation_is_covered():
    """The lists below come from the schema; this fails if it stops describing bodies."""
    assert len(WRITES) > 30 and any(op.path == LOGIN for op in WRITES)


# --- JSON nested ~1,000 deep: a RecursionError in Python's json, now a 400 --------------------------


DEEP = '{"a": ' + "[" * 1000 + "]" * 1000 + "}"
DEEPER_THAN_ALLOWED = '{"a": ' + "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1) + "}"


@pytest.mark.parametrize("body", [DEEP, DEEPER_THAN_ALLOWED], ids=["1000-deep", "just-too-deep"])
def test_deep_json_is_a_400_on_every_write_operation(body, estate):
    api = as_role(estate)
    each(WRITES, lambda op: refusal(send(api, op, body, estate=estate), "nests deeper"))


def test_deep_json_is_a_400_on_the_unauthenticated_login(db):
    response = APIClient().generic("POST", LOGIN, DEEP, content_type="application/json")
    assert_refused(response, words="nests deeper")


def test_json_as_deep_as_allowed_still_parses(estate):
    nested: object = 1
    for _ in range(MAX_JSON_DEPTH - 1):
        nested = [nested]
    response = as_role(estate).post(
        "/api/v1/quota-templates/", {"name": "deep", "values": {"cores": 4}, "x": nested}, format="json"
    )
    assert response.status_code == 201, response.json()


# --- Bodies that are not JSON objects ----------------------------------------------------------------


@pytest.mark.parametrize("body", ["null", "[]", "[1, 2]", '"text"', "3", "true"])
def test_a_body_that_is_not_an_object_is_a_400_with_the_reason(body, estate):
    api = as_role(estate)
    each(WRITES, lambda op: refusal(send(api, op, body, estate=estate), "must be an object"))


@pytest.mark.parametrize("body", ["1e999", "NaN", '{"a": Infinity}', '{"a": -Infinity}'])
def test_numbers_json_does_not_have_are_a_400(body, estate):
    api = as_role(estate)
    each(WRITES, lambda op: refusal(send(api, op, body, estate=estate), "JSON"))


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/quota-templates/", {"name": "t", "values": None}),
        ("/api/v1/quota-templates/", {"name": "t", "values": [["cores", 4]]}),
        ("/api/v1/quota-templates/", {"name": "t", "values": "cores"}),
        ("/api/v1/quota-templates/", {"name": "t", "values": 5}),
        ("/api/v1/quota-templates/", {"name": "t", "values": {"cores": [1]}}),
        ("/api/v1/quota-requests/", {"team": "alpha", "reason": "r", "values": [1]}),
        ("/api/v1/quota-requests/", {"team": "alpha", "reason": "r", "values": {"cores": {"a": 1}}}),
        ("/api/v1/quota-requests/", {"team": "alpha", "reason": "r", "values": {"cores": None}}),
        ("/api/v1/servers/import/", {"csv": ["name"]}),
        ("/api/v1/servers/import/", {"csv": {"name": "x"}}),
        (
            "/api/v1/servers/",
            {"name": "n", "architecture": "x86_64", "datacenter": "dc1", "roles": "compute"},
        ),
        ("/api/v1/onboardings/", {"name": "n", "slug": "n", "members": {"a": 1}}),
        ("/api/v1/vms/", {"team": "alpha", "name": "n", "image": "i", "flavor": "f", "ssh_keys": "k"}),
    ],
)
def test_a_nested_value_of_the_wrong_shape_is_a_400(url, body, estate):
    assert_refused(
        as_role(estate, "admin" if "quota-requests" not in url else "lead").post(url, body, "json")
    )


# --- Lone UTF-16 surrogates and NUL characters ------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ['{"name": "\\ud800"}', '{"\\udfff": 1}', '{"action": "on\\udc00"}', '{"reason": "a\\u0000b"}'],
    ids=["lone-high", "in-a-key", "on-a-choice", "nul"],
)
def test_unstorable_text_in_json_is_a_400_on_every_write_operation(body, estate):
    api = as_role(estate)
    each(WRITES, lambda op: refusal(send(api, op, body, estate=estate), "may not contain"))


def test_nul_and_broken_utf8_in_query_strings_are_refused_or_ignored(estate):
    api = as_role(estate)

    def check(operation):
        url = operation.url(known=estate.known)
        nul = api.get(url + "?architecture=x86%0064&team=%00&image=a&ordering=%00&page=1")
        if nul.status_code != 400 or "NUL" not in nul.json()["detail"]:
            return f"NUL: {nul.status_code}"
        # A UTF-8 encoded surrogate is not UTF-8: Django decodes it as U+FFFD, which is just a value.
        broken = api.get(url + "?architecture=%ED%A0%80&team=%ED%A0%80&search=%ED%A0%80&range=%ED%A0%80")
        return f"broken UTF-8: {broken.status_code}" if broken.status_code >= 500 else None

    each(READS, check)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/catalog/profiles/%00/", "/api/v1/teams/a%00b/", "/api/v1/quotas/%00/", "/api/v1/vms/1%00/"],
)
def test_a_nul_in_the_path_is_a_400(path, estate):
    assert as_role(estate).get(path).status_code in (400, 404)


# --- Integer overflow -------------------------------------------------------------------------------


def _integers(node, components, seen=()):
    """Every integer a request may send (not read-only) in a schema node, with where it is."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                yield from _integers(components[name], components, (*seen, name))
            return
        if node.get("type") == "integer" and not node.get("readOnly"):
            yield node
        for key, value in node.items():
            if key != "enum":
                yield from _integers(value, components, seen)
    elif isinstance(node, list):
        for item in node:
            yield from _integers(item, components, seen)


def test_every_integer_the_api_accepts_is_bounded():
    """Path, query and body: a maximum a PostgreSQL column and Python's dates can hold. A new
    IntegerField without max_value fails here."""
    schema = openapi()
    components = schema["components"]["schemas"]
    unbounded = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            places = [p["schema"] for p in operation.get("parameters", [])]
            places += [c["schema"] for c in operation.get("requestBody", {}).get("content", {}).values()]
            for place in places:
                for integer in _integers(place, components):
                    if integer.get("maximum", PG_INT_MAX + 1) > PG_INT_MAX:
                        unbounded.append(f"{method.upper()} {path}: {integer}")
    assert not unbounded, "\n".join(unbounded)


HUGE = [10**7, 10**10, 2**31, 10**30, -(10**30)]


@pytest.mark.parametrize("days", HUGE)
def test_a_lease_extended_by_millions_of_days_is_a_400(days, estate):
    vm = estate.known["vms"][0]
    response = as_role(estate, "developer").post(f"/api/v1/vms/{vm}/extend/", {"days": days}, format="json")
    assert_refused(response)


@pytest.mark.parametrize("days", [91, 10**7, 10**9, 10**12])
def test_the_lease_service_refuses_millions_of_days_before_any_date_math(days, estate):
    """The HTML page calls the same service; it must refuse, not overflow."""
    vm = VmRequest.objects.get(pk=estate.known["vms"][0])
    with pytest.raises(ValidationError) as refused:
        provisioning_services.vm_lease_extend(actor=estate.users["developer"], vm=vm, days=days, source="t")
    assert "at most 90 days" in str(refused.value)
    vm.refresh_from_db()
    assert vm.expires_at < timezone.now() + timedelta(days=91)


@pytest.mark.parametrize("value", [2**31, 10**30, -(10**30), "9" * 5000, 1e300])
@pytest.mark.parametrize(
    ("role", "url", "body"),
    [
        (
            "lead",
            "/api/v1/quota-requests/",
            lambda v: {"team": "alpha", "reason": "r", "values": {"cores": v}},
        ),
        ("admin", "/api/v1/quota-templates/", lambda v: {"name": "t", "values": {"cores": v}}),
        (
            "admin",
            "/api/v1/image-imports/",
            lambda v: {"path": "disk.qcow2", "name": "n", "architecture": "x86_64", "min_disk_gb": v},
        ),
        (
            "admin",
            "/api/v1/servers/",
            lambda v: {"name": "n", "architecture": "x86_64", "datacenter": "dc1", "rack_unit": v},
        ),
    ],
    ids=["quota-request", "quota-template", "image-import", "server"],
)
def test_huge_integers_in_bodies_are_a_400(value, role, url, body, estate):
    assert_refused(as_role(estate, role).post(url, body(value), format="json"))


@pytest.mark.parametrize("value", [10**7, 2**31, 10**30])
def test_huge_integers_on_actions_are_a_400(value, estate):
    api = as_role(estate)
    image = estate.known["images"][0]
    properties = {"architecture": "x86_64", "os_distro": "", "os_version": "", "machine_type": ""}
    big_disk = api.post(
        f"/api/v1/catalog/manage/images/{image}/properties/",
        {**properties, "min_disk_gb": 10**30, "min_ram_mb": 0},
        format="json",
    )
    assert_refused(big_disk)
    server = estate.known["servers"][0]
    bmc = {"protocol": "ipmi", "address": "127.0.0.1", "username": "u", "port": value}
    assert_refused(api.put(f"/api/v1/servers/{server}/bmc/", bmc, format="json"))


@pytest.mark.parametrize("number", ["99999999999999999999999", "-1", "0", "1e3", "²", "abc"])
def test_odd_page_numbers_are_a_404_on_every_list(number, estate):
    api = as_role(estate)
    for operation in READS:
        if not operation.parameters and "page" in json.dumps(
            openapi()["paths"][operation.path]["get"].get("parameters", [])
        ):
            assert api.get(operation.url() + f"?page={number}").status_code == 404, operation


@pytest.mark.parametrize("window", ["99999999999999999999999", "-5", "²", "1e3"])
def test_an_odd_forecast_window_is_a_400(window, estate):
    assert_refused(as_role(estate).get(f"/api/v1/utilization/forecast/?window_days={window}"))


# --- Odd ids and references in paths ------------------------------------------------------------------


ODD_IDS = ["abc", "²", "1" * 5000, "-1", "1.5", "0x10", "\uff11", "9" * 19, " 1"]  # \uff11: a fullwidth 1


@pytest.mark.parametrize(
    "value",
    ODD_IDS,
    ids=["abc", "superscript", "5000-digits", "negative", "float", "hex", "fullwidth", "19-digits", "space"],
)
def test_an_odd_id_in_the_path_is_a_404(value, estate):
    api = as_role(estate)

    def check(operation):
        response = api.generic(operation.method, operation.url(value), "{}", content_type="application/json")
        return None if response.status_code == 404 else f"{response.status_code} {response.content[:200]!r}"

    each(WITH_ID, check)


@pytest.mark.parametrize("ref", ["²", "1" * 5000, "9" * 19, "-1", "٣"])
def test_an_odd_profile_ref_is_a_404(ref, estate):
    assert as_role(estate, "developer").get(f"/api/v1/catalog/profiles/{ref}/").status_code == 404


def test_a_profile_is_found_by_name_and_by_id(estate):
    name, pk = estate.known["profiles"]
    api = as_role(estate, "developer")
    assert api.get(f"/api/v1/catalog/profiles/{name}/").status_code == 200
    assert api.get(f"/api/v1/catalog/profiles/{pk}/").json()["name"] == name


# --- CSV uploads that are not UTF-8 text ---------------------------------------------------------------


CSV_HEADER = "name,architecture,datacenter\n"


@pytest.mark.parametrize(
    "raw",
    [
        (CSV_HEADER + "café,x86_64,dc1\n").encode("latin-1"),
        (CSV_HEADER + "s1,x86_64,dc1\n").encode("utf-16"),
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        (CSV_HEADER + "s\x001,x86_64,dc1\n").encode(),
    ],
    ids=["latin-1", "utf-16", "png", "nul"],
)
def test_a_csv_that_is_not_utf8_text_is_a_400_with_the_reason(raw, estate):
    api = as_role(estate)
    as_body = api.generic("POST", "/api/v1/servers/import/?dry_run=true", raw, content_type="text/csv")
    assert as_body.status_code == 400
    assert "UTF-8" in as_body.json()["detail"] or "NUL" in as_body.json()["detail"]
    upload = SimpleUploadedFile("servers.csv", raw, content_type="text/csv")
    as_file = api.post("/api/v1/servers/import/", {"file": upload, "dry_run": "true"}, format="multipart")
    assert as_file.status_code == 400 and "file" in as_file.json()
    assert not Server.objects.filter(name__in=["café", "s1"]).exists()


def test_a_utf8_csv_with_a_bom_imports(estate):
    raw = ("\ufeff" + CSV_HEADER + "café-1,x86_64,dc1\n").encode()
    response = as_role(estate).generic("POST", "/api/v1/servers/import/", raw, content_type="text/csv")
    assert response.status_code == 200, response.json()
    assert Server.objects.filter(name="café-1").exists()


# --- A non-ASCII BMC password ----------------------------------------------------------------------------


@pytest.mark.parametrize("first", ["pässwörd", "密码密码", "ascii-only"])
def test_a_non_ascii_bmc_password_is_stored_and_replaced_in_the_api(first, estate):
    api = as_role(estate)
    server = Server.objects.get(pk=estate.known["servers"][0])
    bmc = {"protocol": "ipmi", "address": "127.0.0.1", "port": 623, "username": "ADMIN"}
    for password in (first, "zweites-Pässwort-€", first):
        response = api.put(f"/api/v1/servers/{server.pk}/bmc/", {**bmc, "password": password}, format="json")
        assert response.status_code == 200, response.json()
        server.refresh_from_db()
        assert inventory_services.bmc_password_matches(server, password)
    assert "password" not in json.dumps(response.json())


def test_a_non_ascii_bmc_password_is_replaced_by_the_service_the_page_calls_too(estate):
    server = Server.objects.get(pk=estate.known["servers"][0])
    for password in ("ñandú", "ñandú", "другой"):
        server = inventory_services.server_bmc_set(
            actor=estate.users["admin"],
            server=server,
            protocol="ipmi",
            address="127.0.0.1",
            port=623,
            username="ADMIN",
            password=password,
        )
        assert inventory_services.bmc_password_matches(server, password)


# --- Other content types, empty bodies, huge query strings ------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b"hello"),
        ("application/xml", b"<a/>"),
        ("application/json", b""),
        ("application/json", b"{"),
        ("application/json", b"\xff\xfe{}"),
        ("application/json; charset=bz2_codec", b"{}"),
        ("multipart/form-data", b"--x\r\n"),
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\n"),
        ("application/x-www-form-urlencoded", b"%ff=%00&a"),
    ],
    ids=[
        "text",
        "xml",
        "empty",
        "truncated",
        "not-utf8",
        "bz2-charset",
        "multipart-no-boundary",
        "multipart-broken",
        "form-garbage",
    ],
)
def test_odd_content_types_and_bodies_are_never_a_server_error(content_type, body, estate):
    api = as_role(estate)

    def check(operation):
        response = send(api, operation, body, estate=estate, content_type=content_type)
        return f"{response.status_code} {response.content[:200]!r}" if response.status_code >= 500 else None

    each(WRITES, check)


def test_a_huge_query_string_is_a_400(estate):
    api = as_role(estate)
    many = "&".join(f"f{i}=1" for i in range(1500))

    def check(operation):
        url = operation.url(known=estate.known)
        long = api.get(url + "?q=" + "a" * 20_000).status_code
        fields = api.get(url + "?" + many).status_code
        return None if long == 400 and fields < 500 else f"long {long}, 1,500 fields {fields}"

    each(READS, check)


def test_a_json_body_larger_than_the_bound_is_a_400(estate):
    body = json.dumps({"csv": "x" * (6 * 1024 * 1024)})
    response = as_role(estate).generic(
        "POST", "/api/v1/servers/import/", body, content_type="application/json"
    )
    assert_refused(response, words="larger than")


def test_a_quota_rule_of_millions_of_days_does_not_overflow_a_request(estate):
    """The rule form accepts any positive integer; the service's date math must still hold."""
    QuotaRule.objects.create(key="instances", auto_approve_increase=100, auto_approve_days=PG_INT_MAX)
    api = as_role(estate, "lead")
    (pending,) = estate.known["quota-requests"]
    assert api.post(f"/api/v1/quota-requests/{pending}/cancel/").status_code == 200  # one open at a time
    lines = api.get("/api/v1/quotas/alpha/").json()["dimensions"]
    limit = next(line["quota"] for line in lines if line["key"] == "instances")
    body = {"team": "alpha", "reason": "more", "values": {"instances": limit + 1}}
    response = api.post("/api/v1/quota-requests/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["auto_approved"]
