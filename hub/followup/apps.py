from django.apps import AppConfig


class FollowupConfig(AppConfig):
    name = "hub.followup"
    label = "followup"
    verbose_name = "Follow-up"
