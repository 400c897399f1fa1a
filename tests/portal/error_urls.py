"""The portal's URLs plus one view that fails, for the error page tests (handlers come along)."""

from django.urls import path

from kennel.urls import handler400, handler403, handler404, handler500, urlpatterns


def boom(request):
    raise RuntimeError("a bug nobody foresaw")


urlpatterns = [*urlpatterns, path("boom/", boom)]
__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
