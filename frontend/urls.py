from django.urls import path

from frontend import views

app_name = "frontend"

urlpatterns = [
    path("", views.index, name="index"),
    path("login/", views.login, name="login"),
    path("library/", views.library, name="library"),
    path("s/<slug:slug>/", views.viewer, name="viewer"),
    path("s/<slug:slug>/console/", views.console, name="console"),
    path("s/<slug:slug>/leader/", views.leader, name="leader"),
    path("s/<slug:slug>/screener/", views.screener, name="screener"),
]
