"""How the media engine calls the control plane (``streaming.actions``, the ORM)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from channels.db import DatabaseSyncToAsync

T = TypeVar("T")

#: The engine's calls into the control plane run here, never in asgiref's thread-sensitive
#: executors: many of them happen after the request that started a peer has ended (a
#: peer closing, a recording finishing), when that request's executor is gone.
_DB_EXECUTOR = ThreadPoolExecutor(2, thread_name_prefix="media-db")


async def call_db(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    call = DatabaseSyncToAsync(
        partial(function, *args, **kwargs), thread_sensitive=False, executor=_DB_EXECUTOR
    )
    return await call()
