"""Pages of live video (included before the engine's media endpoints: ``/guest/<token>/join``
must not be taken for a guest resource id)."""

from django.urls import URLPattern, URLResolver, path

from streaming import pages

app_name = "streaming"

urlpatterns: list[URLPattern | URLResolver] = [
    path("s/<slug:slug>/replay/", pages.replay, name="replay"),
    path("guest/<str:token>/join", pages.guest_join, name="guest-join-page"),
]
