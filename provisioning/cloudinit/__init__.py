"""Cloud-init profiles: validated parts rendered to #cloud-config user-data (issue 4).

One module per concern: ``validators`` (field validators and the password hash), ``fields`` (form fields
for lists and per-architecture URLs), ``parts`` (each part kind with its form, and stored profiles'
JSON), ``rendering`` (merging parts into cloud-config and writing user-data) and ``schema`` (checking
user-data against cloud-init's schema). Import from here: ``from provisioning.cloudinit import Part``.

A profile is an ordered list of parts. Each part kind has a Django form (what an admin fills in, and what
stored JSON is re-validated through) and an immutable dataclass (what the form produces), whose
``to_cloud_config(arch)`` returns that part's contribution to the cloud-config mapping.

User-data is built as a Python mapping and written by PyYAML's emitter, never by string templates, so no
field can inject YAML. Values that end up in line-based files on the VM (ssh config, yum repo files,
/etc/environment, /etc/passwd) are refused when they hold control characters, so no field can inject a
line there either.

Stored profiles are JSON: ``[{"kind": "proxy", "version": 1, "host": ..., "port": ...}, ...]``; see
``profile_to_data`` and ``profile_from_data``.

Contributions are merged in order with ``merge_cloud_config``: mappings are merged key by key, lists are
appended (an item equal to one already there is not repeated), anything else is replaced by the later
value. Expert parts (free-form YAML) are merged after every other part and the request's own SSH keys
and packages, so an expert can override anything; the result is still checked against cloud-init's schema.
"""

from provisioning.cloudinit.fields import ArchUrlField, LineListField
from provisioning.cloudinit.parts import (
    DATA_VERSION,
    EXPERT_YAML_MAX_CHARS,
    PART_FORMS,
    SUDO_ALL,
    DnsForm,
    DnsPart,
    ExtraConfigForm,
    ExtraConfigPart,
    PackagesForm,
    PackagesPart,
    Part,
    PartForm,
    ProfileError,
    ProxyForm,
    ProxyPart,
    ProxytunnelForm,
    ProxytunnelPart,
    UserForm,
    UserPart,
    YumRepoForm,
    YumRepoPart,
    parse_extra_config,
    profile_from_data,
    profile_to_data,
)
from provisioning.cloudinit.rendering import (
    HEADER,
    build_cloud_config,
    dump_user_data,
    merge_cloud_config,
    render_user_data,
)
from provisioning.cloudinit.schema import NOVA_USER_DATA_LIMIT, schema_errors, validate_user_data
from provisioning.cloudinit.validators import (
    ARCH_RE,
    HOST_LABEL,
    HOSTNAME_RE,
    PACKAGE_RE,
    PASSWORD_HASH_ROUNDS,
    REPO_ID_RE,
    SHA512_CRYPT_RE,
    SHELL_RE,
    SSH_HOST_PATTERN_RE,
    SSH_KEY_TYPES,
    USER_NAME_RE,
    _has_control_character,
    hash_password,
    validate_host,
    validate_hostname,
    validate_nameserver,
    validate_no_proxy_entry,
    validate_package_name,
    validate_sha512_crypt,
    validate_single_line,
    validate_ssh_host_pattern,
    validate_ssh_public_key,
    validate_url,
)

__all__ = [
    "ARCH_RE",
    "DATA_VERSION",
    "EXPERT_YAML_MAX_CHARS",
    "HEADER",
    "HOSTNAME_RE",
    "HOST_LABEL",
    "NOVA_USER_DATA_LIMIT",
    "PACKAGE_RE",
    "PART_FORMS",
    "PASSWORD_HASH_ROUNDS",
    "REPO_ID_RE",
    "SHA512_CRYPT_RE",
    "SHELL_RE",
    "SSH_HOST_PATTERN_RE",
    "SSH_KEY_TYPES",
    "SUDO_ALL",
    "USER_NAME_RE",
    "ArchUrlField",
    "DnsForm",
    "DnsPart",
    "ExtraConfigForm",
    "ExtraConfigPart",
    "LineListField",
    "PackagesForm",
    "PackagesPart",
    "Part",
    "PartForm",
    "ProfileError",
    "ProxyForm",
    "ProxyPart",
    "ProxytunnelForm",
    "ProxytunnelPart",
    "UserForm",
    "UserPart",
    "YumRepoForm",
    "YumRepoPart",
    "_has_control_character",
    "build_cloud_config",
    "dump_user_data",
    "hash_password",
    "merge_cloud_config",
    "parse_extra_config",
    "profile_from_data",
    "profile_to_data",
    "render_user_data",
    "schema_errors",
    "validate_host",
    "validate_hostname",
    "validate_nameserver",
    "validate_no_proxy_entry",
    "validate_package_name",
    "validate_sha512_crypt",
    "validate_single_line",
    "validate_ssh_host_pattern",
    "validate_ssh_public_key",
    "validate_url",
    "validate_user_data",
]
