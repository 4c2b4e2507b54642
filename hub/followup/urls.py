from django.urls import URLPattern, URLResolver, path

from hub.followup import open311, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("open311/v2/services.json", open311.services, name="open311-services"),
    path("open311/v2/requests.json", open311.service_requests, name="open311-requests"),
    path(
        "open311/v2/requests/<int:request_id>.json",
        open311.service_request,
        name="open311-request",
    ),
    path("followup/work/", views.work_page, name="followup-work"),
]
