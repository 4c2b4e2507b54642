"""After the broadcast: follow-up tasks with working-day deadlines, supervision, reviewed
replies, public tracking and citizen evaluation (issue 4)."""
