"""Hold and flood attempts against a running hub, as one client address (issue 10 §4).

Run against any hub (``make run``, or ``python -m hub.serve --port 8000`` after
``manage.py load_demo``)::

    python -m tests.bench.attack_slots http://127.0.0.1:8000 demo

and it prints, from this one address:

1. eight WHEP offers with no ICE candidate and no end-of-candidates (they can never
   connect), a ninth at once, and a real viewer's offer ``--wait`` seconds later
   (201: a slot was freed; 503: the eight still hold every slot);
2. how many of 500 viewer sockets and of 100 console sockets (logged in as the demo host)
   stay open, and how many are closed with 4503;
3. after a fresh minute, the answers to 40 WHEP POSTs in a row (429: rate-limited).

The figures are the server's answers; nothing here is timed.
"""

from __future__ import annotations

import argparse
import asyncio
import http.cookiejar
import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

import websockets
from aiortc import RTCPeerConnection


async def whep_offer(*, candidates: bool) -> str:
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = str(pc.localDescription.sdp)
    finally:
        await pc.close()
    if candidates:
        return sdp
    kept = [x for x in sdp.splitlines() if not x.startswith(("a=candidate", "a=end-of-candidates"))]
    return "\r\n".join(kept) + "\r\n"


def post_sdp(base: str, path: str, body: str) -> int:
    request = urllib.request.Request(
        base + path, body.encode(), {"Content-Type": "application/sdp"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def host_session_cookie(base: str, password: str) -> str:
    """Log in as the demo host (CSRF token from a page first); the session cookie."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{base}/login/", timeout=30).read()
    csrf = next((c.value for c in jar if c.name == "csrftoken"), "")
    login = urllib.request.Request(
        f"{base}/api/auth/login",
        json.dumps({"username": "host", "password": password}).encode(),
        {"Content-Type": "application/json", "X-CSRFToken": csrf, "Referer": f"{base}/login/"},
        method="POST",
    )
    opener.open(login, timeout=30).read()
    return "; ".join(f"{c.name}={c.value}" for c in jar)


async def sockets(url: str, count: int, origin: str, cookie: str | None) -> tuple[int, int, int]:
    """Open ``count`` sockets at once; (open after 1 s, closed with 4503, handshake failed)."""
    opened: list[Any] = []
    failed = 0
    headers = {"Cookie": cookie} if cookie else None
    for _ in range(count):
        try:
            opened.append(
                await websockets.connect(
                    url,
                    origin=origin,
                    additional_headers=headers,
                    open_timeout=10,  # type: ignore[arg-type]
                )
            )
        except Exception:
            failed += 1
    await asyncio.sleep(1.0)
    refused = sum(1 for ws in opened if ws.close_code == 4503)
    still_open = sum(1 for ws in opened if ws.close_code is None)
    for ws in opened:
        await ws.close()
    return still_open, refused, failed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the hub's URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("slug", nargs="?", default="demo")
    parser.add_argument("--wait", type=float, default=20.0, help="seconds before the real offer")
    parser.add_argument("--password", default=os.environ.get("HUB_DEMO_PASSWORD", "hub-demo-2026"))
    args = parser.parse_args()
    base, slug = args.base.rstrip("/"), args.slug

    never = await whep_offer(candidates=False)
    held = [post_sdp(base, f"/whep/{slug}", never) for _ in range(8)]
    print("8 WHEP offers without candidates:", held)
    print("a 9th at once:", post_sdp(base, f"/whep/{slug}", never))
    time.sleep(args.wait)
    real = await whep_offer(candidates=True)
    print(f"a real viewer's offer {args.wait:.0f} s later:", post_sdp(base, f"/whep/{slug}", real))

    ws_base = base.replace("http", "ws", 1)
    cookie = host_session_cookie(base, args.password)
    for kind, count, with_cookie in (("live", 500, None), ("console", 100, cookie)):
        still_open, refused, failed = await sockets(
            f"{ws_base}/ws/sessions/{slug}/{kind}", count, base, with_cookie
        )
        print(
            f"{count} {kind} sockets from one address: {still_open} open after 1 s, "
            f"{refused} closed with 4503, {failed} handshakes failed"
        )

    time.sleep(61)  # a fresh minute for the offer rate limit
    answers = [post_sdp(base, f"/whep/{slug}", "v=0 not an offer") for _ in range(40)]
    print("40 WHEP POSTs in a row:", {code: answers.count(code) for code in sorted(set(answers))})


if __name__ == "__main__":
    asyncio.run(main())
