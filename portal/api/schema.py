"""The OpenAPI schema's generator, made to tell the truth where drf-spectacular cannot guess it."""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


def _nullable_source(field: serializers.Field) -> bool:
    """Does ``field`` read through a model field that may be NULL (``team`` of an audit entry,
    ``decided_by`` of an undecided request)? Then its value may be null."""
    meta = getattr(field.parent, "Meta", None)
    model = getattr(meta, "model", None)
    if model is None or field.source == "*":
        return False
    for name in field.source.split("."):
        try:
            model_field = model._meta.get_field(name)
        except FieldDoesNotExist:
            return False
        if getattr(model_field, "null", False):
            return True
        model = getattr(model_field, "related_model", None)
        if model is None:
            return False
    return False


class KennelAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus: a read-only field declared on a model serializer (a
    ``SlugRelatedField`` over a nullable foreign key, a ``source`` through one) is nullable in
    responses when its model field is."""

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        if (
            direction == "response"
            and isinstance(field, serializers.Field)
            and field.read_only
            and "nullable" not in meta
            and field.parent is not None
            and _nullable_source(field)
        ):
            meta["nullable"] = True
        return meta
