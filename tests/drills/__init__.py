"""Drills: attacks against a real server, run as an outsider would (``tests.drills.attack``)."""
