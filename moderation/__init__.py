"""Moderation of the merged question queue."""
