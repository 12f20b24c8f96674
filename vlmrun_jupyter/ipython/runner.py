"""The magic's manager: turns a parsed `%vlmrun` into a completion or an execution.

`VlmRunMagics` parses; `Runner` does the rest: looks names up in the notebook,
interpolates the prompt, picks the client (`clients.Clients`), sends in a worker
thread while the main thread shows the status line and takes Ctrl-C, and keeps
the last session so the next run continues it. `--dry-run` shows the body the
client's own builders make instead of sending it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from pydantic import BaseModel

from ..client import COMPLETIONS_PATH, DEFAULT_MODEL, EXECUTE_PATH, Client
from ..errors import CancelledError
from ..refs import Namespace
from ..results import Completion
from . import formatters, oneline, over
from .clients import Clients, MagicConfig
from .dryrun import dry_run
from .interpolate import INTERP, NAME, Prompt, interpolate, media_kind
from .status import Progress, Status
from .suggest import did_you_mean, notebook_names

OnStatus = Callable[[str, float], None]
PREFETCH_MAX = 16  # artifacts fetched while the status line shows (the first a card shows)


def _is_schema(value: Any) -> bool:
    return isinstance(value, dict) or (isinstance(value, type) and issubclass(value, BaseModel))


WANTS: dict[str, Callable[[Any], Any]] = {"schema": _is_schema}  # what a suggestion must be


@dataclass
class Request:
    """One `%vlmrun` run, as parsed: the prompt template and the options."""

    template: str
    inputs: list[str] = field(default_factory=list)  # -i values, as typed
    schema: str | None = None  # a variable name
    model: str | None = None
    session: str | None = None  # new | last | an id
    agent: str | None = None
    over: str | None = None  # --over NAME: one run per item (over.py)
    timeout: float | None = None
    dry_run: bool = False
    out: str | None = None
    display: bool = False  # the result will be shown: fetch its artifacts while waiting


def wait(
    call: Callable[[OnStatus, Progress], Any],
    model: str,
    show_status: bool,
    timeout: float | None = None,
) -> Any:
    """Run `call` in a worker thread; the main thread shows status and takes Ctrl-C. The
    status line counts against the deadline of the operation reporting progress (the
    completion's, a download's), else against `timeout` from the start of the run."""
    box: dict[str, Any] = {}
    progress = Progress()

    def on_status(status: str, elapsed: float) -> None:
        box["status"] = status

    def worker() -> None:
        try:
            box["result"] = call(on_status, progress)
        except BaseException as exc:  # handed to the main thread
            box["error"] = exc

    t0 = time.monotonic()

    def deadline() -> tuple[float, float] | None:
        found = progress.deadline()
        if found is None and timeout is not None:
            return time.monotonic() - t0, timeout
        return found

    status = Status(model, show_status, deadline())
    thread = threading.Thread(target=worker, name="vlmrun-magic", daemon=True)
    try:
        thread.start()
        while thread.is_alive():
            thread.join(0.25)
            text, share = progress.text()
            if progress.phase == "waiting" and box.get("status"):
                text = f"execution {box['status']}"
            status.update(time.monotonic() - t0, text, share, deadline())
        if "result" in box:  # the last phase, drawn once even when it was quicker than a tick
            status.update(time.monotonic() - t0, *progress.text(), deadline())
    except KeyboardInterrupt:
        raise CancelledError(
            f"interrupted after {time.monotonic() - t0:.1f} s; nothing was stored."
        ) from None
    finally:
        status.clear()
    if "error" in box:
        raise box["error"]
    return box["result"]


def agent_inputs(prompt: Prompt) -> dict[str, Any]:
    """Execution inputs by variable name where there is one, else input_1, input_2..."""
    out: dict[str, Any] = {}
    for i, (value, name) in enumerate(zip(prompt.inputs, prompt.names, strict=True), 1):
        key = (name or f"input_{i}").replace(".", "_")
        while key in out:
            key += "_"
        out[key] = value
    return out


@dataclass
class Call:
    """A resolved run: a completion, or an agent execution when `agent` is set."""

    prompt: Prompt
    agent: str | None
    schema: Any
    model: str
    session_id: str | None

    def body(self, client: Client) -> tuple[str, dict[str, Any]]:
        """The path and JSON body the client would send (its own builders: no upload)."""
        text = self.prompt.text or None
        if self.agent:
            inputs = agent_inputs(self.prompt)
            return EXECUTE_PATH, client.build_execution_request(
                self.agent, prompt=text, inputs=inputs, schema=self.schema, model=self.model
            )
        return COMPLETIONS_PATH, client.build_request(
            text,
            inputs=self.prompt.inputs,
            schema=self.schema,
            model=self.model,
            session_id=self.session_id,
        )

    def send(
        self, client: Client, timeout: float, prefetch: bool, on_status: OnStatus, progress: Any
    ) -> Any:
        """Send and wait (in the worker thread), reporting phases to `progress`; with
        `prefetch`, download the artifacts the result will show, so their bytes show
        on the status line too (the display then reads them from the cache)."""
        text = self.prompt.text or None
        if self.agent:
            outcome = client.execute(
                self.agent,
                prompt=text,
                inputs=agent_inputs(self.prompt),
                schema=self.schema,
                model=self.model,
                timeout=timeout,
                on_status=on_status,
                on_progress=progress,
            )
        else:
            outcome = client.complete(
                text,
                inputs=self.prompt.inputs,
                schema=self.schema,
                model=self.model,
                session_id=self.session_id,
                timeout=timeout,
                on_progress=progress,
            )
        refs = formatters.refs_in(outcome.result, PREFETCH_MAX) if prefetch else []
        if refs:  # a failure here is the display's to show, not the run's
            client.fetch_all(refs, return_exceptions=True, on_progress=progress)
        return outcome


class Runner:
    """State and work behind `%vlmrun`: clients, the last session and result, runs."""

    def __init__(self, config: MagicConfig, shell: Any = None) -> None:
        self.config = config
        self.shell = shell
        self.clients = Clients(config)
        self.last_session: str | None = None
        self.last: Any = None  # the last Completion or Execution
        self.last_error: BaseException | None = None  # for `%vlmrun error`

    # -- the notebook's names --------------------------------------------------------------
    def user_ns(self) -> dict[str, Any]:
        return self.shell.user_ns if self.shell is not None else {}

    def lookup(self, name: str, local_ns: Any, what: str) -> Any:
        """A (dotted) variable from the notebook; a UsageError names what is missing."""
        if not NAME.match(name):
            raise UsageError(f"{what} must be a variable name, not {name!r}.")
        try:
            return eval(name, self.user_ns(), local_ns)  # noqa: S307  (a dotted name only)
        except Exception:
            nearby = did_you_mean(name, notebook_names(self.scope(local_ns), WANTS.get(what)))
            raise UsageError(f"{what} {name!r} is not defined in the notebook.{nearby}") from None

    def scope(self, local_ns: Any) -> dict[str, Any]:
        """The notebook's names, the cell's local ones on top."""
        return {**self.user_ns(), **(local_ns if isinstance(local_ns, dict) else {})}

    def _input(self, raw: str, local_ns: Any) -> Any:
        """-i VALUE: a variable (if one by that name exists) or a path/URL string."""
        scope = self.scope(local_ns)
        if NAME.match(raw) and raw.split(".", 1)[0] in scope:
            return self.lookup(raw, local_ns, "input")
        if INTERP.fullmatch(raw.strip()):
            return interpolate(raw.strip(), self.user_ns(), local_ns).inputs or raw
        if media_kind(raw) is None and not Path(raw).expanduser().exists():
            nearby = did_you_mean(raw, notebook_names(scope, media_kind)) if NAME.match(raw) else ""
            raise UsageError(
                f"-i {raw}: no such variable or file (in {Path.cwd()}); nothing was sent.{nearby}"
            )
        return raw

    def _schema(self, name: str | None, local_ns: Any) -> Any:
        if not name:
            return None
        schema = self.lookup(name, local_ns, "schema")
        if _is_schema(schema):
            return schema
        raise UsageError(f"schema {name!r} must be a pydantic model class or a JSON schema dict.")

    def _session(self, value: str | None) -> str | None:
        if value in (None, "last"):
            return self.last_session
        if value == "new":
            return None
        try:
            Namespace("session", value)
        except ValueError as exc:
            raise UsageError(f"--session: {exc}") from None
        return value

    # -- running ---------------------------------------------------------------------------
    def prompt(self, req: Request, local_ns: Any = None) -> Prompt:
        """The interpolated prompt plus the -i inputs."""
        prompt = interpolate(req.template, self.user_ns(), local_ns)
        for raw in req.inputs:
            value = self._input(raw, local_ns)
            prompt.add(
                value if isinstance(value, list) else [value], raw if NAME.match(raw) else None
            )
        if not prompt.text and not prompt.inputs:
            raise UsageError("nothing to send: give a prompt (or inputs). Try `%vlmrun help`.")
        return prompt

    def run(self, req: Request, local_ns: Any = None) -> Any:
        """Interpolate, send, wait, store; returns the typed result (or the dry-run request)."""
        if req.over is not None:
            return self.run_over(req, local_ns)
        prompt = self.prompt(req, local_ns)
        if req.out is not None and not req.out.isidentifier():
            raise UsageError(f"-o/--out needs a variable name, not {req.out!r}.")
        call = Call(
            prompt,
            agent=req.agent,
            schema=self._schema(req.schema, local_ns),
            model=req.model or self.config.default_model or DEFAULT_MODEL,
            session_id=self._session(req.session),
        )
        if req.dry_run:
            client = self.clients.get(need_key=False)
            path, body = call.body(client)
            return dry_run(client, path, body, self.secrets())
        client = self.clients.get()
        timeout = req.timeout if req.timeout is not None else self.config.timeout
        send = partial(call.send, client, timeout, req.display)
        outcome = wait(send, call.model, self.show_status(), timeout)
        if isinstance(outcome, Completion) and outcome.session_id:
            self.last_session = outcome.session_id
        self.last = outcome
        result = formatters.keep_run(outcome.result, outcome)  # shown with the run's footer
        ns = self.user_ns()
        ns["_vlmrun"] = result
        if req.out:
            ns[req.out] = result
        return result

    def run_over(self, req: Request, local_ns: Any = None) -> Any:
        """`--over NAME`: one run per item through `client.map`; returns the BatchResult."""
        if req.inputs or req.session or req.dry_run:
            raise UsageError("--over takes no -i, --session or --dry-run. Nothing was sent.")
        if req.out is not None and not req.out.isidentifier():
            raise UsageError(f"-o/--out needs a variable name, not {req.out!r}.")
        batch = over.run_over(
            self.clients.get(),
            req.over,
            req.template,
            scope=self.scope(local_ns),
            lookup=lambda name: self.lookup(name, local_ns, "--over"),
            namespace=self.user_ns(),
            local_ns=local_ns,
            schema=self._schema(req.schema, local_ns),
            model=req.model or self.config.default_model or DEFAULT_MODEL,
            agent=req.agent,
            timeout=req.timeout if req.timeout is not None else self.config.timeout,
        )
        ns = self.user_ns()
        ns["_vlmrun"] = batch
        if req.out:
            ns[req.out] = batch
        return batch

    def show_status(self) -> bool:
        if self.config.status_line == "auto":
            return getattr(self.shell, "kernel", None) is not None
        return self.config.status_line == "always"

    def stop_local(self) -> bool:
        """Stop the local server `%vlmrun local start` started; its session ends with it."""
        if not self.clients.stop_local():
            return False
        self.last_session = None
        return True

    def close(self) -> None:
        self.stop_local()
        self.clients.close()

    # -- what is shown ---------------------------------------------------------------------
    def secrets(self) -> list[str]:
        return self.clients.secrets()

    def error_lines(self, exc: BaseException) -> list[str]:
        """The short notebook traceback of a VlmRunError: one line (key redacted)."""
        self.last_error = exc
        return oneline.error_lines(exc, *self.secrets())


__all__ = ["Runner", "Request", "Call", "wait", "agent_inputs"]
