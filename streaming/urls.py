"""Media endpoints (see :mod:`streaming.views`)."""

from django.urls import URLPattern, URLResolver, path

from streaming import views

RESOURCE = "<str:resource_id>"

urlpatterns: list[URLPattern | URLResolver] = [
    path("whip/<slug:slug>", views.whip, name="whip"),
    path(f"whip/<slug:slug>/{RESOURCE}", views.whip_resource, name="whip-resource"),
    path("whep/<slug:slug>", views.whep, name="whep"),
    path(f"whep/<slug:slug>/{RESOURCE}", views.whep_resource, name="whep-resource"),
    path(
        "whep/<slug:slug>/guest/<int:invite_id>",
        views.listen_guest,
        name="whep-listen-guest",
    ),
    path(
        f"whep/<slug:slug>/guest/<int:invite_id>/{RESOURCE}",
        views.listen_guest_resource,
        name="whep-listen-guest-resource",
    ),
    path("guest/<str:token>", views.guest, name="guest-join"),
    path(f"guest/<str:token>/{RESOURCE}", views.guest_resource, name="guest-resource"),
    path("hls/<slug:slug>/<str:name>", views.hls_file, name="hls-file"),
]
