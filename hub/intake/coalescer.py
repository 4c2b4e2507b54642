"""Web questions taken in together: the group commit of intake.

Each web question arrives in a request of its own. Taken in one at a time, each pays for a
transaction, a lookup round and console frames of its own, and every one of them queues
in the single thread where a Daphne process runs synchronous Django code (about 160
questions/s per process, ``tests.bench.intake_pipeline``). The microblog and hotline
deliveries already come in batches; :class:`IntakeCoalescer` makes batches of the web
questions that arrive while an earlier batch is being taken in:

* when nothing is being taken in, a question goes at once, as a batch of one (no added
  delay when the session is quiet);
* questions that arrive meanwhile wait, and go together as the next batch (at most
  ``max_batch``) as soon as the one before is done, through
  :func:`hub.intake.pipeline.do_intake_batch`, with the same outcome for each as if it
  had been taken in alone (its own :class:`IntakeResult` or :class:`IntakeRejected`).

Under load, batches grow by themselves to what arrives during one batch: the busier the
session, the larger the batch and the cheaper each question.

Nothing accepted is lost: a question is taken in even if its request is cancelled while
it waits (the browser gave up). One question that breaks its batch (a character the
database refuses, a bug) reaches only its own request: the pipeline takes that batch in
again one question at a time (:func:`hub.intake.pipeline.do_intake_batch`), so the
others get the outcome they would have had alone. Only an error of the pipeline itself
(the database went away) reaches every request of that batch, as it would have reached
each one alone, and the next batch is tried afresh.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from hub.errors import IntakeRejected
from hub.intake.pipeline import IntakeItem, IntakeResult, do_intake_batch

logger = logging.getLogger(__name__)

Outcome = IntakeResult | IntakeRejected


@dataclass
class _Waiting:
    item: IntakeItem
    future: asyncio.Future[Outcome]
    #: The submitting request's context: Django runs a request's synchronous code in a
    #: thread of that request's own (asgiref's ``ThreadSensitiveContext``), alive while
    #: the request is.
    context: contextvars.Context
    gone: bool = False  # the request was cancelled while it waited


class IntakeCoalescer:
    """Takes in the items submitted from one event loop in batches (see the module
    docstring). One batch is in flight at a time; state belongs to the running event loop
    (a new loop, as in tests, starts afresh).

    Where a batch runs: in the thread of the first request of the batch still waiting,
    exactly as a synchronous view of that request would (its database connection, closed
    when the request finishes; in tests, the test's transaction). That request cannot
    finish before the batch does: it waits for its own outcome. When every request of a
    batch has gone, the batch runs in asgiref's thread for code outside requests, with
    the stale-connection handling Channels' ``database_sync_to_async`` applies.
    """

    def __init__(self, max_batch: int = 500) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_batch = max_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: list[_Waiting] = []
        self._draining: asyncio.Task[None] | None = None
        #: Sizes of the batches taken in, most recent last (the last 1,000; for tests and
        #: the benchmark).
        self.batch_sizes: list[int] = []

    async def submit(self, item: IntakeItem) -> Outcome:
        """Take ``item`` in with whatever else is waiting; its outcome."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._waiting, self._draining = loop, [], None
        future: asyncio.Future[Outcome] = loop.create_future()
        # Retrieved here too, so that an error nobody waits for any more is not logged
        # again as "never retrieved" (it is logged once by _drain).
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        waiting = _Waiting(item, future, contextvars.copy_context())
        self._waiting.append(waiting)
        if self._draining is None or self._draining.done():
            # In a context of its own: the drain outlives the request that started it.
            self._draining = loop.create_task(self._drain(), context=contextvars.Context())
        try:
            # Shielded: a cancelled request stops waiting, its question is still taken in.
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            waiting.gone = True
            raise

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            batch = self._waiting[: self.max_batch]
            del self._waiting[: self.max_batch]
            self.batch_sizes.append(len(batch))
            del self.batch_sizes[:-1000]
            items = [waiting.item for waiting in batch]
            host = next((waiting for waiting in batch if not waiting.gone), None)
            context = host.context.copy() if host is not None else contextvars.Context()
            try:
                outcomes = await loop.create_task(
                    sync_to_async(_take_in)(items, outside_requests=host is None),
                    context=context,
                )
            except Exception as error:
                logger.exception("taking in a batch of %s web questions failed", len(batch))
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(error)
                continue
            for waiting, outcome in zip(batch, outcomes, strict=True):
                if not waiting.future.done():
                    waiting.future.set_result(outcome)


def _take_in(items: list[IntakeItem], *, outside_requests: bool) -> list[Outcome]:
    if not outside_requests:
        return do_intake_batch(items)
    close_old_connections()
    try:
        return do_intake_batch(items)
    finally:
        close_old_connections()


#: The web channel's coalescer in this process (``hub.api.ask_question``).
web_intake = IntakeCoalescer()
