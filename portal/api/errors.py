"""How a service's refusal becomes the API's answer, the same way in every app."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from rest_framework.exceptions import ValidationError as ApiValidationError


def api_validation_error(error: ValidationError) -> ApiValidationError:
    """A service's ValidationError as a 400: field by field when it names fields (``__all__`` becomes
    ``non_field_errors``), else ``non_field_errors``."""
    if hasattr(error, "error_dict"):
        return ApiValidationError(
            {
                "non_field_errors" if key == "__all__" else key: value
                for key, value in error.message_dict.items()
            }
        )
    return ApiValidationError({"non_field_errors": error.messages})
