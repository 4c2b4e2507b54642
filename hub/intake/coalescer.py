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
it waits (the browser gave up); an error of the pipeline itself (the database went away)
reaches every request of that batch, as it would have reached each one alone, and the
next batch is tried afresh.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async

from hub.errors import IntakeRejected
from hub.intake.pipeline import IntakeItem, IntakeResult, do_intake_batch

logger = logging.getLogger(__name__)

Outcome = IntakeResult | IntakeRejected


class IntakeCoalescer:
    """Takes in the items submitted from one event loop in batches (see the module
    docstring). One batch is in flight at a time; state belongs to the running event loop
    (a new loop, as in tests, starts afresh)."""

    def __init__(self, max_batch: int = 500) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_batch = max_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: list[tuple[IntakeItem, asyncio.Future[Outcome]]] = []
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
        self._waiting.append((item, future))
        if self._draining is None or self._draining.done():
            self._draining = loop.create_task(self._drain())
        # Shielded: a cancelled request stops waiting, its question is still taken in.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._waiting:
            batch = self._waiting[: self.max_batch]
            del self._waiting[: self.max_batch]
            self.batch_sizes.append(len(batch))
            del self.batch_sizes[:-1000]
            try:
                # In the thread where Django runs synchronous views (their connection and
                # its request-bound lifetime), as Django's own async ORM calls do.
                outcomes = await sync_to_async(do_intake_batch)([item for item, _ in batch])
            except Exception as error:
                logger.exception("taking in a batch of %s web questions failed", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)


#: The web channel's coalescer in this process (``hub.api.ask_question``).
web_intake = IntakeCoalescer()
