from rest_framework import viewsets

from inventory.api.serializers import ServerSerializer
from inventory.filtersets import ServerFilterSet
from inventory.selectors import server_list


class ServerViewSet(viewsets.ReadOnlyModelViewSet):
    """The physical servers (managers and admins; others see an empty list)."""

    serializer_class = ServerSerializer
    filterset_class = ServerFilterSet

    def get_queryset(self):
        return server_list(user=self.request.user)
