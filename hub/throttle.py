"""Who is asking, and how often: the client address, per-address caps, the login throttle.

**The client address.** Without ``HUB_PROXY_HEADERS`` it is the socket's peer
(``REMOTE_ADDR``); ``X-Forwarded-For`` is ignored, because any client can send it. With
``HUB_PROXY_HEADERS=1`` (the hub behind your own proxy) it is the **right-most** entry of
``X-Forwarded-For`` that is not one of ``HUB_TRUSTED_PROXIES``: every proxy *appends* the
address it received the request from, so the entries to the left of the last untrusted
one were written by the client and prove nothing (Daphne's own ``--proxy-headers`` takes
the left-most one; the hub does not rely on it). The address counts as given for IPv4;
an IPv6 address counts as its /64 network, because one subscriber is handed a whole /64
and may pick any address in it.

**Caps** (:func:`take_slot`) are fixed-size budgets per address and scope (a session's
supports, a reply's public votes), counted in the cache with atomic increments, so every
process behind a shared cache (Redis, ``HUB_REDIS_URL``) sees the same count. Addresses
are stored only as keyed hashes.

**Login throttle.** Failed logins are counted per address and per username for
``HUB_LOGIN_FAILURE_WINDOW_SECONDS``; past ``HUB_LOGIN_FAILURES_PER_ADDRESS`` or
``HUB_LOGIN_FAILURES_PER_USERNAME`` every login attempt from that address or for that
username is refused, even with the right password, until the window ends. It is enforced
in the authentication backend (:class:`ThrottledModelBackend`), so the API login, the
admin login and any other form that calls ``authenticate()`` share it.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from hub.errors import DomainError

# --- the client address -----------------------------------------------------------------


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for network in settings.HUB_TRUSTED_PROXIES:
        try:
            if ip in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_address(request: HttpRequest) -> str:
    """The address a request came from (see the module docstring); ``""`` if unknown."""
    remote = str(request.META.get("REMOTE_ADDR") or "")
    if not settings.HUB_PROXY_HEADERS:
        return remote
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR") or "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop):
            return hop
    return hops[0] if hops else remote


def address_key(address: str) -> str:
    """A keyed hash of the address's counting unit (IPv4 address, IPv6 /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        unit = address or "unknown"
    else:
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        if mapped is not None:
            unit = str(mapped)
        elif ip.version == 6:
            unit = str(ipaddress.ip_network(f"{ip}/64", strict=False))
        else:
            unit = str(ip)
    return salted_hmac("hub.throttle.address", unit).hexdigest()[:32]


# --- caps -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One unit taken from a cap; :meth:`give_back` returns it (the write did not happen)."""

    key: str

    def give_back(self) -> None:
        try:
            cache.decr(self.key)
        except ValueError:
            pass  # expired meanwhile: nothing left to return


def take_slot(scope: str, address: str, cap: int, ttl: int) -> Slot | None:
    """Take one unit of the address's budget in ``scope``; ``None`` when it is spent.

    The count lives ``ttl`` seconds from the first unit taken. Atomic: concurrent callers
    in any process never take more than ``cap`` units together.
    """
    key = f"cap:{scope}:{address_key(address)}"
    cache.add(key, 0, timeout=ttl)
    try:
        taken = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 0, timeout=ttl)
        taken = cache.incr(key)
    if taken > cap:
        cache.decr(key)
        return None
    return Slot(key)


class AddressLimitReached(DomainError):
    """Too many supports or votes from one network for one session or reply."""

    code = "address_limit"
    http_status = 403


# --- the login throttle -----------------------------------------------------------------


class LoginThrottled(DomainError):
    code = "login_throttled"
    http_status = 429

    def __init__(self, wait: int) -> None:
        minutes = max(1, math.ceil(wait / 60))
        super().__init__(
            _(
                "Too many failed logins from this address or for this account; "
                "try again in %(minutes)s minutes"
            )
            % {"minutes": minutes}
        )
        self.retry_after = wait


def _login_keys(request: HttpRequest | None, username: str) -> list[tuple[str, int]]:
    """(cache key, limit) for the username and, with a request, for its address."""
    user = salted_hmac("hub.throttle.user", username.lower()).hexdigest()[:32]
    keys = [(f"login-fail:user:{user}", settings.HUB_LOGIN_FAILURES_PER_USERNAME)]
    if request is not None:
        address = address_key(client_address(request))
        keys.append((f"login-fail:addr:{address}", settings.HUB_LOGIN_FAILURES_PER_ADDRESS))
    return keys


def login_wait(request: HttpRequest | None, username: str) -> int:
    """Seconds until a login for ``username`` from this request may be tried; 0 if now."""
    now = time.time()
    for key, limit in _login_keys(request, username):
        if (cache.get(key) or 0) >= limit:
            ends = cache.get(f"{key}:ends") or now + settings.HUB_LOGIN_FAILURE_WINDOW_SECONDS
            return max(1, math.ceil(ends - now))
    return 0


def check_login_allowed(request: HttpRequest | None, username: str) -> None:
    """Raise :class:`LoginThrottled` while the address or the username is locked out."""
    wait = login_wait(request, username)
    if wait:
        raise LoginThrottled(wait)


def _count_attempt(key: str) -> int:
    window = settings.HUB_LOGIN_FAILURE_WINDOW_SECONDS
    if cache.add(key, 0, timeout=window):
        cache.set(f"{key}:ends", time.time() + window, timeout=window)
    try:
        return int(cache.incr(key))
    except ValueError:  # the window ended between add and incr
        cache.add(key, 1, timeout=window)
        return 1


def begin_login_attempt(request: HttpRequest | None, username: str) -> bool:
    """Count an attempt as a failure *before* checking the password; False if the
    address or username is past its limit (the attempt must be refused).

    Counting first makes the limit hold for parallel attempts too: 25 simultaneous
    wrong passwords cannot all be checked before the first failure is recorded.
    Call :func:`end_login_attempt` with the outcome.
    """
    allowed = True
    for key, limit in _login_keys(request, username):
        if _count_attempt(key) > limit:
            allowed = False
    return allowed


def end_login_attempt(request: HttpRequest | None, username: str, *, succeeded: bool) -> None:
    """A success takes its attempt back from the address and forgets the username's
    failures (not the address's: one valid account must not reset its budget)."""
    if not succeeded:
        return
    keys = _login_keys(request, username)
    cache.delete_many([keys[0][0], f"{keys[0][0]}:ends"])
    for key, _limit in keys[1:]:
        try:
            cache.decr(key)
        except ValueError:
            pass


class ThrottledModelBackend(ModelBackend):
    """Django's model backend behind the login throttle.

    Past a limit, ``authenticate()`` fails even with the right password
    (``PermissionDenied`` stops Django from trying another backend).
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        name = str(username if username is not None else kwargs.get("username") or "")
        if not begin_login_attempt(request, name):
            raise PermissionDenied
        user = super().authenticate(request, username=username, password=password, **kwargs)
        end_login_attempt(request, name, succeeded=user is not None)
        return user
