"""The API's operations, read from its OpenAPI schema, so that a test over "every endpoint" covers the
next one added without being told."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache

from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer


@cache
def openapi() -> dict:
    """The schema /api/schema/ serves, generated in-process."""
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # with {placeholders}
    has_body: bool
    parameters: tuple[str, ...]  # path parameters' names

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def collection(self) -> str:
        """``/api/v1/catalog/manage/images/{id}/offer/`` -> ``images``: what its path parameter names."""
        fixed = [p for p in self.path.split("/") if p and not p.startswith("{")]
        fixed = [p for p in fixed if p not in ("api", "v1", "catalog", "manage", "usage")]
        return fixed[0] if fixed else ""

    def url(self, value: object = None, known: dict[str, list] | None = None) -> str:
        """The path with its parameter set to ``value``, or else to a row that exists."""
        if value is None and self.parameters:
            values = (known or {}).get(self.collection) or ["1"]
            value = values[0]
        return re.sub(r"\{[^}]+\}", str(value), self.path)


def operations() -> list[Operation]:
    found = []
    for path, methods in sorted(openapi()["paths"].items()):
        for method, operation in sorted(methods.items()):
            names = tuple(p["name"] for p in operation.get("parameters", []) if p["in"] == "path")
            found.append(Operation(method.upper(), path, "requestBody" in operation, names))
    return found


def write_operations() -> list[Operation]:
    """Every operation that takes a request body."""
    return [op for op in operations() if op.has_body]
