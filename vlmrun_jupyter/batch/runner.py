"""Run one completion (or agent execution) per item: bounded, resumable, throttle-aware.

One thread (the caller's) owns the schedule; workers make exactly one attempt each and
report what happened, so the same loop drives a local thread pool and a Dask cluster:

- at most `window` requests are in flight; the window starts at `max_concurrency`,
  halves on every 429 and grows back by one per window's worth of successes;
- a 429 pauses every submission until its Retry-After (or a backoff) has passed:
  the whole batch backs off, not just the item that hit it;
- 5xx, dropped connections and timeouts put the item back with its own exponential
  backoff, at most `retries` times; any other error is final for that item;
- every finished item is journaled at once (see journal.py), so an interrupted run
  keeps what finished and the next run sends only what is missing.

Working memory is bounded by the window, not the batch: items are taken from the input
as slots free up (the input is not copied), answers go straight to the journal on disk,
each item's 16-byte journal key goes to a scratch database on disk (store.py), and per
item one byte (send it or not) stays in memory.

What a worker does with one item, and what travels to it, is worker.py.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import os
import random
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ResponseSchemaError
from ..results import parse_result, schema_json
from .items import content_key, item_key, items_of, spec_key
from .journal import Journal, journal_path
from .progress import BatchState, Progress, as_progress
from .result import BatchResult, RowView
from .store import Column
from .worker import ClientFactory, WorkSpec, attempt, portable, remote_attempt

DEFAULT_CONCURRENCY = 32  # see bench/batch.py (width sweep); the client pools 32 connections
ARTIFACT_TTL = 24 * 3600.0  # the API keeps a session's artifacts this long (design.md 3)
MAX_THROTTLES = 30  # 429s one item may meet before it is recorded as failed


# -- the schedule ---------------------------------------------------------------------------


@dataclass
class _Task:
    key: str
    item: Any
    attempts: int = 0
    throttles: int = 0
    copies: int = 1  # rows of the batch with this content (all credited when it ends)


@dataclass
class _Schedule:
    """Which task goes next, and when: retries when due, then fresh tasks in input order
    (taken from `fresh` one at a time, only when a slot is free)."""

    fresh: Iterator[_Task] | None = None
    ready: deque[_Task] = field(default_factory=deque)
    later: list[tuple[float, int, _Task]] = field(default_factory=list)
    gate: float = 0.0  # no submission before this (a 429's Retry-After, for everyone)
    _seq: itertools.count = field(default_factory=itertools.count)

    def take(self) -> _Task | None:
        if self.ready:
            return self.ready.popleft()
        if self.fresh is not None:
            task = next(self.fresh, None)
            if task is not None:
                return task
            self.fresh = None
        return None

    def due(self, now: float) -> None:
        while self.later and self.later[0][0] <= now:
            self.ready.appendleft(heapq.heappop(self.later)[2])

    def defer(self, task: _Task, delay: float) -> None:
        heapq.heappush(self.later, (time.monotonic() + delay, next(self._seq), task))

    def next_wake(self, now: float) -> float:
        times = [self.gate] if self.gate > now else []
        if self.later:
            times.append(self.later[0][0])
        return max(0.0, min(times) - now) if times else 0.25

    def __bool__(self) -> bool:
        return bool(self.ready or self.later) or self.fresh is not None


def _backoff(attempt: int, base: float = 0.2, cap: float = 8.0) -> float:
    d = min(cap, base * 2**attempt)
    return d / 2 + random.uniform(0, d / 2)


class Runner:
    """One run of one batch. `run()` returns the BatchResult; Ctrl-C keeps what finished."""

    def __init__(
        self,
        client: Any,
        prompt: str,
        items: Any,
        *,
        model: str,
        schema: Any = None,
        agent: str | None = None,
        input_name: str = "input",
        max_concurrency: int | None = None,
        executor: Executor | None = None,
        journal: Any = True,
        progress: Any = True,
        retries: int = 4,
        timeout: float | None = None,
        retry_failed: bool = False,
        max_age: float | None = ARTIFACT_TTL,
        update_every: float = 0.2,
        grace: float = 5.0,
    ) -> None:
        self.client = client
        self.schema = schema
        self.width = max(1, int(max_concurrency or DEFAULT_CONCURRENCY))
        self.executor = executor
        self.retries = max(0, int(retries))
        self.retry_failed = retry_failed
        self.max_age = max_age
        self.update_every = update_every
        self.grace = grace
        self.progress: Progress = as_progress(progress)
        js = schema_json(schema)
        self.spec = WorkSpec(
            ClientFactory.of(client, self.width), prompt, js, model, agent, input_name, timeout
        )
        batch = spec_key(
            prompt=prompt,
            schema=js,
            model=model,
            agent=agent,
            input=input_name,
            server=client.settings.base_url,  # artifacts live on the server that made them,
            account=_account(client.settings.api_key),  # readable by the key that made them
        )
        self.source = items_of(items)
        # each item's 16-byte journal key, on disk (store.py), made as the items are read
        self.keys = Column(
            bytes.fromhex(item_key(batch, content_key(item))) for _, item in self.source
        )
        self.journal = (
            journal if isinstance(journal, Journal) else _open_journal(journal, client, batch)
        )
        self.options = dict(
            prompt=prompt, schema=schema, model=model, agent=agent, input_name=input_name,
            max_concurrency=max_concurrency, executor=executor, progress=progress,
            retries=retries, timeout=timeout, max_age=max_age,
        )  # fmt: skip

    # -- bookkeeping ------------------------------------------------------------------------
    def _key(self, index: int) -> str:
        return self.keys[index].hex()

    def _survey(self) -> tuple[bytearray, BatchState]:
        """What the journal already holds: the counts a re-run starts from ("812 done,
        188 to go") and one byte per item, 1 where it must be sent."""
        state = BatchState(total=len(self.source))
        send = bytearray(len(self.source))
        for i, key in enumerate(self.keys):
            record = self.journal.get(key.hex())
            if record is not None and self.max_age is not None:
                if time.time() - float(record.get("t") or 0) > self.max_age:
                    record = None  # its artifacts have expired on the server: send again
            if record is not None and (record.get("ok") or not self.retry_failed):
                if record.get("ok"):
                    state.cached += 1
                else:
                    state.failed += 1
            else:
                send[i] = 1
        return send, state

    def _record(self, task: _Task, outcome: dict[str, Any]) -> bool:
        """Journal a final outcome; True when the item succeeded (and its answer fits)."""
        record: dict[str, Any] = {"k": task.key, "t": round(time.time(), 3)}
        if outcome.get("ok"):
            try:
                parse_result(outcome["answer"], self.schema, None)  # validate only
            except ResponseSchemaError as exc:
                outcome = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
        if outcome.get("ok"):
            record.update(ok=True, answer=outcome["answer"], ns=outcome.get("ns"))
            record["latency"] = outcome.get("latency")
        else:
            record.update(ok=False, error=outcome.get("error"), message=outcome.get("message"))
            record.update(status=outcome.get("status"), attempts=task.attempts + 1)
        self.journal.add(record)
        return bool(record["ok"])

    def _submit(self, pool: Executor, worker: Any, task: _Task) -> Future:
        if self.executor is None:
            return pool.submit(attempt, worker, self.spec, task.item)
        return pool.submit(remote_attempt, self.spec, portable(task.item))

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> BatchResult:
        send, state = self._survey()
        pending: dict[str, _Task] = {}  # tasks not yet final: at most the window + retries
        schedule = _Schedule(fresh=_fresh(self, send, state, pending))
        own = self.executor is None and send.count(1) > 0
        pool = (
            ThreadPoolExecutor(self.width, thread_name_prefix="vlmrun-batch")
            if own
            else self.executor
        )
        worker = self.spec.factory() if own else None
        in_flight: dict[Future, _Task] = {}
        window, grown = self.width, 0
        last = 0.0
        self.progress.update(state)
        try:
            while schedule or in_flight:
                now = time.monotonic()
                schedule.due(now)
                while len(in_flight) < window and now >= schedule.gate:
                    task = schedule.take()
                    if task is None:
                        break
                    in_flight[self._submit(pool, worker, task)] = task
                if not in_flight and not schedule:
                    break
                state.in_flight = len(in_flight)
                pause = schedule.next_wake(now) if schedule and len(in_flight) < window else 0.25
                pause = max(0.001, min(pause, 0.25))
                if not in_flight:
                    time.sleep(pause)
                    continue
                done, _ = wait(list(in_flight), timeout=pause, return_when=FIRST_COMPLETED)
                for fut in done:
                    task = in_flight.pop(fut)
                    outcome = _outcome(fut)
                    retry = outcome.get("retry")
                    if retry == "throttle" and task.throttles < MAX_THROTTLES:
                        task.throttles += 1
                        state.throttled += 1
                        hold = outcome.get("retry_after") or _backoff(task.throttles)
                        schedule.gate = max(schedule.gate, time.monotonic() + float(hold))
                        window, grown = max(1, window // 2), 0
                        schedule.ready.appendleft(task)
                    elif retry == "backoff" and task.attempts < self.retries:
                        task.attempts += 1
                        state.retries += 1
                        schedule.defer(task, _backoff(task.attempts))
                    else:
                        ok = self._record(task, outcome)
                        del pending[task.key]
                        if ok:
                            state.done += task.copies
                            grown += 1
                            if window < self.width and grown >= window:
                                window, grown = window + 1, 0
                        else:
                            state.failed += task.copies
                state.in_flight = len(in_flight)
                if time.monotonic() - last >= self.update_every:
                    last = time.monotonic()
                    self.progress.update(state)
        except BaseException:
            state.interrupted = True
            self._settle(in_flight, state)
            raise
        finally:
            state.finished = True
            state.in_flight = 0
            if own:
                pool.shutdown(wait=not state.interrupted, cancel_futures=True)
                if not state.interrupted:
                    worker.close()
            self.progress.close(state)
        return self.result()

    def _settle(self, in_flight: dict[Future, _Task], state: BatchState) -> None:
        """After Ctrl-C: nothing new is sent; requests already on the wire get `grace`
        seconds to land and be journaled (a re-run would otherwise pay for them twice);
        a second Ctrl-C stops waiting. Whatever lands later is still journaled."""
        for fut in list(in_flight):
            if fut.cancel():
                del in_flight[fut]
        try:
            done, _ = wait(list(in_flight), timeout=self.grace)
        except KeyboardInterrupt:
            done = set()
        for fut in done:
            task = in_flight.pop(fut)
            outcome = _outcome(fut)
            if outcome.get("ok"):
                self._record(task, outcome)
                state.done += task.copies
        for fut, task in in_flight.items():

            def keep(f: Future, task: _Task = task) -> None:
                outcome = _outcome(f)
                if outcome.get("ok"):
                    try:
                        self._record(task, outcome)
                    except Exception:  # a late answer must never disturb the kernel
                        pass

            fut.add_done_callback(keep)

    def result(self) -> BatchResult:
        return BatchResult(
            RowView(self.source, self.keys),
            self.journal,
            schema=self.schema,
            client=self.client,
            rerun=self._rerun,
        )

    def _rerun(self, **overrides: Any) -> BatchResult:
        """The same batch again (the journal skips what is done); `retry_failed()` uses it."""
        options = {**self.options, **overrides}
        runner = Runner(
            self.client,
            options.pop("prompt"),
            self.source,
            journal=self.journal,
            **options,
        )
        return runner.run()


def _fresh(
    runner: Runner, send: bytearray, state: BatchState, pending: dict[str, _Task]
) -> Iterator[_Task]:
    """The tasks to send, in input order, made one at a time. An item whose content is
    already on its way is credited when that task ends; one that ended earlier in this
    run (its journal line is past `mark`) is credited now."""
    journal = runner.journal
    mark = journal.size
    for i in range(len(send)):
        if not send[i]:
            continue
        key = runner._key(i)
        task = pending.get(key)
        if task is not None:
            task.copies += 1
            continue
        offset = journal.offset(key)
        if offset is not None and offset >= mark:
            if (journal.get(key) or {}).get("ok"):
                state.done += 1
            else:
                state.failed += 1
            continue
        task = pending[key] = _Task(key, runner.source.item(i))
        yield task


def _account(key: str | None) -> str:
    """Which key a journal belongs to, without keeping the key (a digest prefix)."""
    return hashlib.sha256((key or "").encode()).hexdigest()[:16]


def _outcome(fut: Future) -> dict[str, Any]:
    try:
        return fut.result()
    except Exception as exc:  # a worker died, or the executor failed to run the task
        return {"ok": False, "retry": "backoff", "error": type(exc).__name__, "message": str(exc)}


def _open_journal(journal: Any, client: Any, batch: str) -> Journal:
    if journal is False or journal is None:
        return Journal.memory()
    root = (
        Path(journal).expanduser()
        if isinstance(journal, (str, os.PathLike))
        else Path(client.settings.cache_dir) / "batches"
    )
    return Journal(journal_path(root, batch))


def map_items(client: Any, prompt: str, items: Any, **options: Any) -> BatchResult:
    """`Client.map`: one completion (or agent execution with `agent=`) per item.

    items: a list, a pandas Series (a DataFrame column) or a folder path. The item goes
    with the prompt as media (`{{ item }}` in the prompt says where it is referred to).
    Options: schema, model, agent, input_name (the agent's input key), max_concurrency,
    executor (any concurrent.futures.Executor; Dask's works), journal (True: in the cache
    dir; a folder; False: none), progress (True: a bar/line; False; a callable), retries,
    timeout, retry_failed (send the items that failed last time again), max_age (journal
    records older than this are sent again: their artifacts have expired; default 24 h).
    """
    return Runner(client, prompt, items, **options).run()


__all__ = ["map_items", "Runner", "DEFAULT_CONCURRENCY", "ARTIFACT_TTL"]
