"""The API's pagination: DRF's page numbers, with the page parameter's bounds in the schema."""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination

from portal.api.parsers import PG_INT_MAX


class PageNumbers(PageNumberPagination):
    """``?page=`` from 1; a page past the last (or not a number) is a 404 with the reason."""

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": PG_INT_MAX}
        return parameters
