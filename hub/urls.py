from django.contrib import admin
from django.urls import include, path

from hub.admin import admin_login
from hub.api import api

urlpatterns = [
    # Before the admin's own URLs: its login page behind the login throttle.
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("streaming.page_urls")),
    path("", include("streaming.urls")),
    path("", include("hub.followup.urls")),
    path("", include("hub.followup.page_urls")),
    path("", include("frontend.urls")),
]
