"""Django settings, all read from the environment through :mod:`hub.env`.

The embedded default (no variables set) runs on SQLite with the in-process channel layer and
fan-out, documented development secrets and DEBUG on. ``HUB_PRODUCTION=1`` switches to
production rules: no development secret is accepted and the process refuses to start
without real ones. Every variable is listed with its default in the README.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from hub.env import env_bool, env_float, env_int, env_list, env_str
from hub.workcalendar.office_hours import env_office_hours

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

PRODUCTION = env_bool("HUB_PRODUCTION", False)

# Documented development values; refused when HUB_PRODUCTION is on.
DEV_SECRET_KEY = "dev-only-secret-key-not-for-production"  # noqa: S105
DEV_MICROBLOG_SECRET = "dev-microblog-secret"  # noqa: S105
DEV_HOTLINE_SECRET = "dev-hotline-secret"  # noqa: S105


def _secret(name: str, dev_value: str) -> str:
    value = env_str(name)
    if PRODUCTION:
        if not value or value == dev_value or len(value) < 16:
            raise ImproperlyConfigured(
                f"{name} must be set to a real secret of at least 16 characters "
                "when HUB_PRODUCTION is on"
            )
        return value
    return value or dev_value


SECRET_KEY = _secret("HUB_SECRET_KEY", DEV_SECRET_KEY)
if PRODUCTION and (
    len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure-")
):
    # Django's own rule (check --deploy, security.W009): it signs sessions, CSRF tokens,
    # browser ids and password-reset links, so it must not be guessable.
    raise ImproperlyConfigured(
        "HUB_SECRET_KEY must be at least 50 characters with at least 5 different ones, "
        "not starting with 'django-insecure-', when HUB_PRODUCTION is on; make one with "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
MICROBLOG_SECRET = _secret("HUB_MICROBLOG_SECRET", DEV_MICROBLOG_SECRET)
HOTLINE_SECRET = _secret("HUB_HOTLINE_SECRET", DEV_HOTLINE_SECRET)
DEBUG = env_bool("HUB_DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list(
    "HUB_ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("HUB_ALLOWED_HOSTS must list the site's host names in production")
CSRF_TRUSTED_ORIGINS = env_list("HUB_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",
    "hub",
    "moderation",
    "frontend",
    "streaming",
    "hub.workcalendar",
    "hub.followup",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "hub.security.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # NUL/surrogates in address → 400; /api/ and /open311/ errors in their JSON forms.
    "hub.middleware.WireErrorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "hub.browser.BrowserIdMiddleware",
    # CSRF for cookie-authenticated API writes and login/logout; JSON-only API writes.
    "hub.csrf.ApiCsrfMiddleware",
]

ROOT_URLCONF = "hub.urls"
ASGI_APPLICATION = "asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASE_URL = env_str("HUB_DATABASE_URL") or f"sqlite:///{VAR_DIR / 'hub.sqlite3'}"
# Persistent connections: the viewer stream reads the database on every connect.
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("HUB_DB_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the viewer stream read while an action writes; the busy timeout makes
    # concurrent writers wait for the lock instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("HUB_REDIS_URL") or None
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "hub:layer"},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "hub",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env_str("HUB_CELERY_BROKER_URL") or REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == "memory://"
CELERY_TIMEZONE = "Asia/Shanghai"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
# Every authenticate() goes through the login throttle (hub.throttle): API and admin login.
AUTHENTICATION_BACKENDS = ["hub.throttle.ThrottledModelBackend"]
HUB_LOGIN_FAILURES_PER_ADDRESS = env_int("HUB_LOGIN_FAILURES_PER_ADDRESS", 10, minimum=1)
HUB_LOGIN_FAILURES_PER_USERNAME = env_int("HUB_LOGIN_FAILURES_PER_USERNAME", 10, minimum=1)
HUB_LOGIN_FAILURE_WINDOW_SECONDS = env_int("HUB_LOGIN_FAILURE_WINDOW_SECONDS", 900, minimum=1)

# --- Transport and browser security (check --deploy is clean in production) ---------------
# The HTTPS redirect needs the proxy's X-Forwarded-Proto: see HUB_PROXY_HEADERS below.
SECURE_SSL_REDIRECT = env_bool("HUB_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = env_int("HUB_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HUB_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("HUB_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
# W021 (no HSTS preload) is silenced while preload is off by decision: preloading is a
# commitment of the whole registrable domain (hstspreload.org), not of one site's host.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# DENY also suits the broadcast graphics: OBS browser sources load pages, they do not frame them.
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (hub.security): enforced, or report-only for a rollout.
HUB_CSP_REPORT_ONLY = env_bool("HUB_CSP_REPORT_ONLY", False)
HUB_CSP_REPORT_URI = env_str("HUB_CSP_REPORT_URI") or None
# The interactive API docs page /api/docs (the schema /api/openapi.json is always served).
HUB_API_DOCS = env_bool("HUB_API_DOCS", not PRODUCTION)

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("HUB_LOG_LEVEL", "INFO")},
}

# --- Product settings -------------------------------------------------------------------
HUB_DEMO_PASSWORD = env_str("HUB_DEMO_PASSWORD", "hub-demo-2026")
HUB_SIGNATURE_TOLERANCE_SECONDS = env_int("HUB_SIGNATURE_TOLERANCE_SECONDS", 300, minimum=1)
HUB_INTAKE_MAX_BODY_BYTES = env_int("HUB_INTAKE_MAX_BODY_BYTES", 1_048_576, minimum=1024)
HUB_INTAKE_MAX_ITEMS = env_int("HUB_INTAKE_MAX_ITEMS", 200, minimum=1)
HUB_QUESTION_MIN_CHARS = env_int("HUB_QUESTION_MIN_CHARS", 2, minimum=1)
HUB_QUESTION_MAX_CHARS = env_int("HUB_QUESTION_MAX_CHARS", 500, minimum=10)
HUB_NAME_MAX_CHARS = env_int("HUB_NAME_MAX_CHARS", 40, minimum=4)
HUB_TRADITIONAL_TO_SIMPLIFIED = env_bool("HUB_TRADITIONAL_TO_SIMPLIFIED", True)
HUB_WEB_RATE_PER_BROWSER = env_str("HUB_WEB_RATE_PER_BROWSER", "5/m")
HUB_WEB_RATE_PER_IP = env_str("HUB_WEB_RATE_PER_IP", "60/m")
HUB_REPLAY_WINDOW = env_int("HUB_REPLAY_WINDOW", 1000, minimum=1)
HUB_VIEWER_QUEUE_LIMIT = env_int("HUB_VIEWER_QUEUE_LIMIT", 256, minimum=4)
HUB_WS_MAX_BUFFER_BYTES = env_int("HUB_WS_MAX_BUFFER_BYTES", 1_048_576, minimum=4096)
# Open WebSockets per client address (an IPv6 address counts by its /64), per process:
# the next one is closed at once with 4503 (hub.realtime.addresscap).
HUB_WS_MAX_VIEWERS_PER_ADDRESS = env_int("HUB_WS_MAX_VIEWERS_PER_ADDRESS", 100, minimum=1)
HUB_WS_MAX_CONSOLES_PER_ADDRESS = env_int("HUB_WS_MAX_CONSOLES_PER_ADDRESS", 20, minimum=1)
HUB_HEARTBEAT_SECONDS = env_float("HUB_HEARTBEAT_SECONDS", 15.0, minimum=0.05)
HUB_SUPPORT_COALESCE_SECONDS = env_float("HUB_SUPPORT_COALESCE_SECONDS", 0.5, minimum=0.05)
HUB_MICROBLOG_API_URL = env_str("HUB_MICROBLOG_API_URL") or None
HUB_MICROBLOG_API_TOKEN = env_str("HUB_MICROBLOG_API_TOKEN", "")
HUB_MICROBLOG_POLL_SECONDS = env_float("HUB_MICROBLOG_POLL_SECONDS", 30.0, minimum=1.0)

CELERY_BEAT_SCHEDULE = (
    {
        "poll-microblog": {
            "task": "hub.tasks.poll_microblog",
            "schedule": HUB_MICROBLOG_POLL_SECONDS,
        }
    }
    if HUB_MICROBLOG_API_URL
    else {}
)

NINJA_PAGINATION_PER_PAGE = 50
DATA_UPLOAD_MAX_MEMORY_SIZE = HUB_INTAKE_MAX_BODY_BYTES
HUB_SERVE_STATIC = env_bool("HUB_SERVE_STATIC", not PRODUCTION)
# The client address (hub.throttle.client_address) comes from X-Forwarded-For only with
# HUB_PROXY_HEADERS: its right-most hop that is not one of HUB_TRUSTED_PROXIES (addresses or
# networks of your own proxies in front of the first one), never the spoofable left-most.
HUB_PROXY_HEADERS = env_bool("HUB_PROXY_HEADERS", False)
HUB_TRUSTED_PROXIES = env_list("HUB_TRUSTED_PROXIES", [])
# Supports and public votes (hub.browser, hub.throttle): a page-issued browser id must be
# this old before it counts; per client address at most so many per session / per reply.
HUB_BROWSER_MIN_AGE_SECONDS = env_float("HUB_BROWSER_MIN_AGE_SECONDS", 3.0, minimum=0.0)
HUB_SUPPORTS_PER_ADDRESS_PER_SESSION = env_int(
    "HUB_SUPPORTS_PER_ADDRESS_PER_SESSION", 20, minimum=1
)
HUB_VOTES_PER_ADDRESS_PER_TASK = env_int("HUB_VOTES_PER_ADDRESS_PER_TASK", 20, minimum=1)
# Daphne speaks plain HTTP, so in production TLS ends at the proxy (deploy/nginx.conf),
# which sets X-Forwarded-Proto; it is trusted only with HUB_PROXY_HEADERS (Daphne then also
# takes the scheme from it). Without it every request would look like plain HTTP and the
# HTTPS redirect (SECURE_SSL_REDIRECT, above) would send each one to itself.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HUB_PROXY_HEADERS else None
if PRODUCTION and SECURE_SSL_REDIRECT and not HUB_PROXY_HEADERS:
    raise ImproperlyConfigured(
        "HUB_SSL_REDIRECT needs HUB_PROXY_HEADERS=1 in production: Daphne serves plain HTTP "
        "behind the TLS proxy, and only the proxy's X-Forwarded-Proto tells it a request "
        "came over HTTPS (else every request redirects to itself)"
    )
NINJA_NUM_PROXIES = 0
HUB_FLOOD_MAX_QUESTIONS = env_int("HUB_FLOOD_MAX_QUESTIONS", 5, minimum=1)
HUB_FLOOD_WINDOW_SECONDS = env_int("HUB_FLOOD_WINDOW_SECONDS", 600, minimum=1)
HUB_AUTO_MERGE = env_bool("HUB_AUTO_MERGE", True)
# Working time for follow-up deadlines (hub.workcalendar): office periods in Asia/Shanghai.
HUB_OFFICE_HOURS = env_office_hours("HUB_OFFICE_HOURS", "09:00-12:00,13:30-17:30")
# Live video control plane (streaming.actions): publisher hand-over window, guest links.
HUB_PUBLISHER_HANDOVER_SECONDS = env_int("HUB_PUBLISHER_HANDOVER_SECONDS", 60, minimum=5)
HUB_GUEST_INVITE_TTL_SECONDS = env_int("HUB_GUEST_INVITE_TTL_SECONDS", 3600, minimum=60)
HUB_DEMO_STREAM_TOKEN = env_str("HUB_DEMO_STREAM_TOKEN", f"studio-{HUB_DEMO_PASSWORD}")
# Follow-up tasks (hub.followup): the timer tick, notice senders and public rate limits.
HUB_FOLLOWUP_TICK_SECONDS = env_float("HUB_FOLLOWUP_TICK_SECONDS", 60.0, minimum=1.0)
HUB_FOLLOWUP_EXTERNAL_BEAT = env_bool("HUB_FOLLOWUP_EXTERNAL_BEAT", False)
HUB_FOLLOWUP_SMS_SENDER = env_str("HUB_FOLLOWUP_SMS_SENDER", "hub.followup.notify.LogSender")
HUB_FOLLOWUP_EMAIL_SENDER = env_str("HUB_FOLLOWUP_EMAIL_SENDER", "hub.followup.notify.LogSender")
HUB_FOLLOWUP_LEADERSHIP_EMAILS = env_list("HUB_FOLLOWUP_LEADERSHIP_EMAILS", [])
HUB_FOLLOWUP_MAX_ATTEMPTS = env_int("HUB_FOLLOWUP_MAX_ATTEMPTS", 5, minimum=1)
HUB_FOLLOWUP_RETRY_SECONDS = env_int("HUB_FOLLOWUP_RETRY_SECONDS", 60, minimum=1)
HUB_FOLLOWUP_CODE_RATE_PER_IP = env_str("HUB_FOLLOWUP_CODE_RATE_PER_IP", "20/m")
HUB_FOLLOWUP_VOTE_RATE_PER_BROWSER = env_str("HUB_FOLLOWUP_VOTE_RATE_PER_BROWSER", "10/m")
HUB_FOLLOWUP_VOTE_RATE_PER_IP = env_str("HUB_FOLLOWUP_VOTE_RATE_PER_IP", "120/m")
CELERY_BEAT_SCHEDULE["followup-tick"] = {
    "task": "hub.followup.tasks.followup_tick",
    "schedule": HUB_FOLLOWUP_TICK_SECONDS,
}
# The weekly report (专报) files: hourly, writes last week's PDF and XLSX once they are due.
CELERY_BEAT_SCHEDULE["followup-weekly-report"] = {
    "task": "hub.followup.exports.archive_weekly_report",
    "schedule": 3600.0,
}
CELERY_IMPORTS = ["hub.followup.exports"]
# Media engine (streaming.media): programme format, viewer cap, HLS, recordings.
HUB_MEDIA_ROOT = Path(env_str("HUB_MEDIA_ROOT") or VAR_DIR / "media")
HUB_PROGRAM_WIDTH = env_int("HUB_PROGRAM_WIDTH", 640, minimum=16)
HUB_PROGRAM_HEIGHT = env_int("HUB_PROGRAM_HEIGHT", 360, minimum=16)
HUB_PROGRAM_FPS = env_int("HUB_PROGRAM_FPS", 30, minimum=1)
if HUB_PROGRAM_WIDTH % 2 or HUB_PROGRAM_HEIGHT % 2:
    raise ImproperlyConfigured("HUB_PROGRAM_WIDTH and HUB_PROGRAM_HEIGHT must be even")
if 30 % HUB_PROGRAM_FPS:
    # aiortc's H.264 encoder works in 1/30 s ticks: other rates would jitter timestamps.
    raise ImproperlyConfigured("HUB_PROGRAM_FPS must divide 30 (1, 2, 3, 5, 6, 10, 15 or 30)")
HUB_PROGRAM_VIDEO_KBPS = env_int("HUB_PROGRAM_VIDEO_KBPS", 1000, minimum=100)
HUB_PROGRAM_IDLE_SECONDS = env_float("HUB_PROGRAM_IDLE_SECONDS", 300.0, minimum=1.0)
HUB_WEBRTC_MAX_VIEWERS = env_int("HUB_WEBRTC_MAX_VIEWERS", 8, minimum=0)
# A WebRTC peer (viewer, publisher, guest) that has not connected this long after its
# answer, or that lost its connection this long, is closed and its slot freed.
HUB_WEBRTC_CONNECT_TIMEOUT_SECONDS = env_float(
    "HUB_WEBRTC_CONNECT_TIMEOUT_SECONDS", 15.0, minimum=1.0
)
HUB_WEBRTC_DISCONNECT_GRACE_SECONDS = env_float(
    "HUB_WEBRTC_DISCONNECT_GRACE_SECONDS", 10.0, minimum=1.0
)
# POSTs of SDP offers per client address (429 + Retry-After above), one count per endpoint.
HUB_WHEP_RATE_PER_IP = env_str("HUB_WHEP_RATE_PER_IP", "30/m")
HUB_WHIP_RATE_PER_IP = env_str("HUB_WHIP_RATE_PER_IP", "30/m")
HUB_GUEST_JOIN_RATE_PER_IP = env_str("HUB_GUEST_JOIN_RATE_PER_IP", "10/m")
HUB_STUN_URLS = env_list("HUB_STUN_URLS", [])
HUB_HLS_SEGMENT_SECONDS = env_int("HUB_HLS_SEGMENT_SECONDS", 2, minimum=1)
HUB_HLS_LIST_SIZE = env_int("HUB_HLS_LIST_SIZE", 6, minimum=3)
# Off only for a benchmark baseline or a relay-only process: no HLS and NO RECORDING.
HUB_MEDIA_HLS = env_bool("HUB_MEDIA_HLS", True)
