"""Fan-out benchmark of the viewer stream (``python -m tests.bench.fanout``; see README.md).

Nothing here is collected by pytest: no module is named ``test_*.py``.
"""
