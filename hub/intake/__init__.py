"""Intake: every channel (web, microblog, hotline, radio, on site) feeds one pipeline."""
