"""Test settings: the product's settings on PostgreSQL when it is reachable.

Under ``CI=true`` PostgreSQL is required: the run stops here if it is missing. On a
developer machine without it the suite falls back to SQLite and says so. (The real-server
tests always also run the embedded SQLite default in their own processes.)
"""

import os
import sys

from tests.services import in_ci, postgres_url

_pg = postgres_url()
if _pg:
    os.environ["HUB_DATABASE_URL"] = _pg
elif in_ci():
    raise RuntimeError("CI=true: PostgreSQL at 127.0.0.1:5432 is required for the tests")
else:
    sys.stderr.write("PostgreSQL not reachable: testing on SQLite (CI requires PostgreSQL)\n")
    os.environ.setdefault("HUB_DATABASE_URL", "sqlite:///" + os.path.abspath("var/test.sqlite3"))
os.environ.pop("HUB_REDIS_URL", None)  # tests opt in to Redis explicitly

from hub.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
HUB_WEB_RATE_PER_BROWSER = "1000/m"
HUB_WEB_RATE_PER_IP = "1000/m"

# One test database per pytest process, so that concurrent runs (a developer's and CI's,
# or two terminals) never drop each other's database.
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": f"test_hub_{os.getpid()}"}  # noqa: F405

# Connections opened by worker threads must not outlive a test, or the test database
# cannot be dropped at the end of the run.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
