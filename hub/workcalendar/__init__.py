"""The working-day calendar in Asia/Shanghai (weekends, statutory holidays, make-up
workdays) and working-time arithmetic for deadlines (issue 4 §3)."""
