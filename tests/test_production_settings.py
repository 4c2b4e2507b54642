"""Production settings: ``check --deploy`` is clean, a weak secret key is refused, HTTPS is
enforced behind the proxy (redirect, HSTS, secure cookies), every response carries the
Content-Security-Policy, no template has code the policy would refuse, and the API docs
page is off in production while the schema stays."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory, override_settings

from hub.security import (
    ENFORCING_HEADER,
    REPORT_ONLY_HEADER,
    ContentSecurityPolicyMiddleware,
    policy_header_value,
)

ROOT = Path(__file__).resolve().parent.parent
HOST = "live.example.gov.cn"


def production_env(**extra: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "hub.settings",
        "HUB_PRODUCTION": "1",
        "HUB_ALLOWED_HOSTS": HOST,
        "HUB_SECRET_KEY": secrets.token_urlsafe(50),
        "HUB_MICROBLOG_SECRET": secrets.token_urlsafe(32),
        "HUB_HOTLINE_SECRET": secrets.token_urlsafe(32),
        "HUB_PROXY_HEADERS": "1",
    }
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )


def test_check_deploy_reports_no_warning_and_no_error_in_production() -> None:
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout + result.stderr
    assert "WARNINGS" not in result.stdout + result.stderr


def test_check_deploy_still_warns_when_a_deployer_turns_hsts_and_the_redirect_off() -> None:
    result = run(
        ["manage.py", "check", "--deploy"],
        production_env(HUB_HSTS_SECONDS="0", HUB_SSL_REDIRECT="0"),
    )
    output = result.stdout + result.stderr
    assert "security.W004" in output and "security.W008" in output


@pytest.mark.parametrize(
    "key",
    [
        secrets.token_urlsafe(36)[:49],  # one character short
        "abcd" * 20,  # long, but only four different characters
        "django-insecure-" + secrets.token_urlsafe(50),  # Django's generated dev key
        "s" * 50,
    ],
    ids=["49-characters", "four-distinct-characters", "django-insecure-prefix", "one-character"],
)
def test_production_refuses_a_weak_secret_key_with_a_clear_message(key: str) -> None:
    result = run(["-c", "import django; django.setup()"], production_env(HUB_SECRET_KEY=key))
    assert result.returncode != 0
    assert "ImproperlyConfigured: HUB_SECRET_KEY must be at least 50 characters" in result.stderr


def test_production_refuses_the_https_redirect_without_the_proxy_headers() -> None:
    result = run(["-c", "import django; django.setup()"], production_env(HUB_PROXY_HEADERS="0"))
    assert result.returncode != 0
    assert "HUB_SSL_REDIRECT needs HUB_PROXY_HEADERS=1" in result.stderr


PROBE = """
import json, django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
client = Client(HTTP_HOST="live.example.gov.cn")
out = {}
plain = client.get("/api/openapi.json")
out["plain"] = [plain.status_code, plain.get("Location")]
proxied = {"HTTP_X_FORWARDED_PROTO": "https"}
schema = client.get("/api/openapi.json", **proxied)
out["schema"] = [schema.status_code, schema.get("Strict-Transport-Security"),
                 schema.get("Content-Security-Policy"), schema.get("X-Frame-Options"),
                 schema.get("X-Content-Type-Options"), schema.get("Referrer-Policy"),
                 schema.get("Cross-Origin-Opener-Policy")]
out["docs"] = client.get("/api/docs", **proxied).status_code
login = client.get("/login/", **proxied)
out["login"] = [login.status_code, login.get("Content-Security-Policy")]
out["csrf_cookie_secure"] = bool(login.cookies["csrftoken"]["secure"])
from django.conf import settings
out["session_cookie_secure"] = settings.SESSION_COOKIE_SECURE
print(json.dumps(out))
"""


def probe(env: dict[str, str], tmp_path: Path) -> dict[str, object]:
    env = {**env, "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'probe.sqlite3'}"}
    result = run(["-c", PROBE], env)
    assert result.returncode == 0, result.stderr
    probed: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return probed


def test_in_production_http_redirects_to_https_and_https_answers_with_hsts_and_the_policy(
    tmp_path: Path,
) -> None:
    out = probe(production_env(), tmp_path)
    assert out["plain"] == [301, f"https://{HOST}/api/openapi.json"]
    assert out["schema"] == [
        200,
        "max-age=31536000; includeSubDomains",
        policy_header_value(),
        "DENY",
        "nosniff",
        "same-origin",
        "same-origin",
    ]
    assert out["login"] == [200, policy_header_value()]
    assert out["session_cookie_secure"] is True
    assert out["csrf_cookie_secure"] is True


def test_the_api_docs_page_is_off_in_production_and_on_when_asked_the_schema_stays(
    tmp_path: Path,
) -> None:
    assert probe(production_env(), tmp_path)["docs"] == 404
    assert probe(production_env(HUB_API_DOCS="1"), tmp_path)["docs"] == 200


def test_development_serves_the_api_docs_page(client: Client) -> None:
    assert client.get("/api/docs").status_code == 200
    assert client.get("/api/openapi.json").status_code == 200


# --- the middleware --------------------------------------------------------------------


def html(request: HttpRequest) -> HttpResponse:
    return HttpResponse("<p>page</p>")


def test_every_response_gets_the_policy_and_it_allows_nothing_inline() -> None:
    response = ContentSecurityPolicyMiddleware(html)(RequestFactory().get("/"))
    policy = response[ENFORCING_HEADER]
    assert policy == policy_header_value()
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in policy
    assert REPORT_ONLY_HEADER not in response


@override_settings(HUB_CSP_REPORT_ONLY=True, HUB_CSP_REPORT_URI="/csp-reports")
def test_report_only_mode_sends_the_same_policy_as_report_only_with_its_report_uri() -> None:
    response = ContentSecurityPolicyMiddleware(html)(RequestFactory().get("/"))
    assert ENFORCING_HEADER not in response
    assert response[REPORT_ONLY_HEADER] == policy_header_value() + "; report-uri /csp-reports"


def test_a_response_with_its_own_policy_keeps_it() -> None:
    def own(request: HttpRequest) -> HttpResponse:
        response = HttpResponse("x")
        response[ENFORCING_HEADER] = "default-src 'none'"
        return response

    response = ContentSecurityPolicyMiddleware(own)(RequestFactory().get("/"))
    assert response[ENFORCING_HEADER] == "default-src 'none'"


@override_settings(DEBUG=True)
def test_with_debug_on_error_pages_carry_no_policy_so_the_technical_page_is_readable() -> None:
    def missing(request: HttpRequest) -> HttpResponse:
        return HttpResponse("technical 404", status=404)

    assert ENFORCING_HEADER not in ContentSecurityPolicyMiddleware(missing)(
        RequestFactory().get("/")
    )
    with override_settings(DEBUG=False):
        assert ENFORCING_HEADER in ContentSecurityPolicyMiddleware(missing)(
            RequestFactory().get("/")
        )


# --- nothing in the pages that the policy would refuse ------------------------------------

INLINE = [
    (
        re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
        "inline script",
    ),
    (re.compile(r"<style\b", re.I), "style element"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]
SCRIPT_INLINE = [
    (re.compile(r"""\bstyle\s*:\s*['"`]"""), "style attribute built by h()"),
    (re.compile(r"""setAttribute\(\s*['"]style['"]"""), "style attribute set"),
    (re.compile(r"""setAttribute\(\s*['"]on[a-z]+['"]"""), "event handler attribute set"),
    (re.compile(r"\b(innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write"), "HTML string"),
    (re.compile(r"\beval\(|new Function\("), "eval"),
]
APPS = ("frontend", "hub", "moderation", "streaming")


def test_no_template_has_an_inline_script_style_or_event_handler() -> None:
    found = []
    for app in APPS:
        for path in (ROOT / app).rglob("templates/**/*.html"):
            text = path.read_text("utf-8")
            for pattern, what in INLINE:
                found += [f"{path.relative_to(ROOT)}: {what}" for _ in pattern.findall(text)]
    assert found == []


def test_no_page_script_builds_inline_styles_handlers_or_html_strings() -> None:
    found = []
    for app in APPS:
        for path in (ROOT / app).rglob("static/**/*.js"):
            if "vendor" in path.parts:
                continue
            for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
                if line.lstrip().startswith(("//", "*", "/*")):
                    continue
                for pattern, what in SCRIPT_INLINE:
                    if pattern.search(line):
                        found.append(f"{path.relative_to(ROOT)}:{number}: {what}")
    assert found == []
