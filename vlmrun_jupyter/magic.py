"""`%vlmrun` / `%%vlmrun`: run a VLM Run completion from a cell and show the typed result.

The magic is a thin layer over `Client`: it turns a cell into `client.complete(...)`
(or `client.execute(...)` with `--agent`), waits in the main thread with a status
line (so Ctrl-C cancels cleanly), and hands back the typed result with its refs
bound, so `x = %vlmrun ...`, `Out[n]`, `_vlmrun` and `-o VAR` all hold it.

Only `{{ expr }}` is interpolated (IPython's own `$var` / `{var}` expansion is
switched off), because prompts routinely contain JSON and code braces. Media
values interpolated this way (PIL images, arrays, paths, URLs, refs) become
content parts of their own; everything else becomes text.

`VlmRunError`s get a one-line notebook traceback (`short_errors`), and nothing the
magic prints, returns or raises contains the API key.
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
import shlex
import threading
import time
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
)
from IPython.core.magic_arguments import argument, magic_arguments
from pydantic import BaseModel
from traitlets import Bool, Enum, Float, Unicode

from .client import DEFAULT_MODEL, Client, Completion, default_client, set_default_client
from .content import PartBuilder, sniff
from .errors import (
    CancelledError,
    ConfigurationError,
    RequestError,
    VlmRunError,
    redact,
)
from .refs import BaseRef, Namespace, make_ref

SUBCOMMANDS = ("config", "get", "artifacts", "local", "help")
_INTERP = re.compile(r"(?<!\\)\{\{(.+?)\}\}", re.S)
_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_DATA_URL_KEEP = 64  # characters of a data: URL kept in --dry-run output
_STATE = "_vlmrun_magic_state"


# -- interpolation -----------------------------------------------------------------------------


@dataclass
class Prompt:
    """A prompt after `{{ expr }}` interpolation: text plus the media it referred to."""

    text: str
    inputs: list[Any] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)  # variable names, for agent inputs


def _media_kind(value: Any) -> str | None:
    """'image', 'video', ... when `value` should travel as a content part, else None."""
    from .content import _is_ndarray, _is_pil

    if isinstance(value, BaseRef):
        return value.kind
    if isinstance(value, BaseModel) and isinstance(getattr(value, "id", None), str):
        try:
            return make_ref(value.id).kind  # the official SDK's refs
        except ValueError:
            return None
    if _is_pil(value):
        return "image"
    if _is_ndarray(value):
        from .content import _image_like

        return "image" if _image_like(value) else "array"
    if isinstance(value, (bytes, bytearray)):
        return _kind_of_mime(sniff(bytes(value[:64])))
    if isinstance(value, os.PathLike):
        return _kind_of_path(str(value)) or "file"
    if isinstance(value, str) and value and len(value) < 4096 and not value[0].isspace():
        low = value[:8].lower()
        if low.startswith(("http://", "https://")) and not any(c.isspace() for c in value):
            mime = mimetypes.guess_type(value.split("?", 1)[0])[0]
            return _kind_of_mime(mime)
        if low.startswith("data:") and "," in value:
            return _kind_of_mime(value[5:].split(";", 1)[0].split(",", 1)[0])
        return _kind_of_path(value)
    return None


def _kind_of_mime(mime: str | None) -> str:
    major = (mime or "").split("/", 1)[0]
    if major in ("image", "video", "audio"):
        return major
    return "document" if mime == "application/pdf" else "file"


def _kind_of_path(value: str) -> str | None:
    """A media kind for an existing file with a media type; None for other strings."""
    try:
        path = Path(value).expanduser()
        if not path.is_file():
            return None
        mime = mimetypes.guess_type(path.name)[0]
        if mime is None:
            with open(path, "rb") as f:
                mime = sniff(f.read(64))
    except (OSError, ValueError):
        return None
    kind = _kind_of_mime(mime)
    return kind if kind != "file" else None


def _label(value: Any, kind: str, seen: dict[str, int]) -> str:
    """What the prompt text says where a media value was interpolated."""
    if isinstance(value, BaseRef) or isinstance(getattr(value, "id", None), str):
        return str(value.id)
    seen[kind] = seen.get(kind, 0) + 1
    return f"the attached {kind}" + (f" #{seen[kind]}" if seen[kind] > 1 else "")


def interpolate(template: str, namespace: dict[str, Any], local_ns: Any = None) -> Prompt:
    """Expand `{{ expr }}` (evaluated in `namespace`); `\\{{` stays a literal `{{`."""
    out: list[str] = []
    prompt = Prompt("")
    seen: dict[str, int] = {}
    pos = 0
    for m in _INTERP.finditer(template):
        out.append(template[pos : m.start()])
        pos = m.end()
        expr = m.group(1).strip()
        try:
            value = eval(compile(expr, "<{{ }}>", "eval"), namespace, local_ns)  # noqa: S307
        except Exception as exc:
            raise RequestError(
                f"{{{{ {expr} }}}} failed: {type(exc).__name__}: {exc}",
                hint="Only {{ expr }} is evaluated, in the notebook's namespace; "
                "write \\{{ for a literal {{.",
            ) from None
        items = value if isinstance(value, (list, tuple)) and value else [value]
        kinds = [_media_kind(v) for v in items]
        if all(kinds):
            labels = []
            for v, kind in zip(items, kinds, strict=True):
                prompt.inputs.append(v)
                prompt.names.append(expr if _NAME.match(expr) and len(items) == 1 else None)
                labels.append(_label(v, kind, seen))  # type: ignore[arg-type]
            out.append(", ".join(labels))
        else:
            out.append(str(value))
    out.append(template[pos:])
    prompt.text = "".join(out).replace("\\{{", "{{")
    return prompt


# -- display helpers ---------------------------------------------------------------------------


def _truncate_data_urls(value: Any) -> Any:
    """A copy of a request body with `data:` URLs cut short (for --dry-run)."""
    if isinstance(value, dict):
        return {k: _truncate_data_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_truncate_data_urls(v) for v in value]
    if isinstance(value, str) and value.startswith("data:") and len(value) > _DATA_URL_KEEP:
        return f"{value[:_DATA_URL_KEEP]}...<{len(value)} chars>"
    return value


class DryRun(dict):
    """The request `--dry-run` shows: method, url, headers (key redacted) and JSON body."""

    def _text(self) -> str:
        return json.dumps(self, indent=2, default=str)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": self._text()}

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._text())


class _Status:
    """One status line updated in place while waiting, cleared when done."""

    def __init__(self, model: str, enabled: bool) -> None:
        self.model = model
        self.handle = None
        if enabled:
            from IPython.display import display

            self.handle = display(self._bundle(0.0, None), raw=True, display_id=True)

    def _bundle(self, elapsed: float, status: str | None) -> dict[str, str]:
        what = f" · {status}" if status else ""
        text = f"⏳ vlmrun · {self.model}{what} · {elapsed:.0f} s"
        html = f'<span style="color:#666;font-family:monospace">{escape(text)}</span>'
        return {"text/plain": text, "text/html": html}

    def update(self, elapsed: float, status: str | None) -> None:
        if self.handle is not None:
            self.handle.update(self._bundle(elapsed, status), raw=True)

    def clear(self) -> None:
        if self.handle is not None:
            self.handle.update({"text/plain": ""}, raw=True)
            self.handle = None


# -- the magic ---------------------------------------------------------------------------------

USAGE_EXAMPLES = """
Examples::

    %%vlmrun -s BlurredImage -o result
    Blur all the faces in {{ photo }}

    x = %vlmrun "Describe {{ img }}" -m vlmrun-orion-1:auto
    %vlmrun "Extract 5 key frames" -i clip.mp4 --session new
    %vlmrun "Trim the video to the first 2 seconds" -i {{ result.video }} ;
    %vlmrun "Blur the faces" -i photo --dry-run

    %%vlmrun --agent image/blur-image --timeout 300
    Blur the faces in {{ photo }}

Subcommands::

    %vlmrun config                          base URL, whether a key is set, model, cache, session
    %vlmrun get img_a1b2c3 [--session ID]   display an artifact by id
    %vlmrun artifacts [--session ID]        a gallery of the session's artifacts
    %vlmrun local start|stop|status         an offline local server in this kernel (no key needed)
    %vlmrun help                            this text

Only {{ expr }} is evaluated (in the notebook's namespace); every other brace
stays as typed, so JSON and code in prompts are safe (write \\{{ for a literal
{{). Images, arrays, paths, URLs and refs interpolated this way are sent as
media; other values as text. The result is returned (so `x = %vlmrun ...`
works) and stored in `_vlmrun` and in `-o VAR`; a trailing `;` or --no-display
silences the display. Sessions continue by default (--session new starts a
fresh one). Configure with `%config VlmRunMagics.default_model = "..."`
(also base_url, api_key, timeout, short_errors); the API key is read from
VLMRUN_API_KEY and never shown.
"""


@magics_class
class VlmRunMagics(Magics):
    """The `%vlmrun` magic and its configuration (`%config VlmRunMagics`)."""

    default_model = Unicode("", help=f"Model when -m is not given (empty: {DEFAULT_MODEL}).").tag(
        config=True
    )
    short_errors = Bool(
        True, help="Show VLM Run errors as one line instead of a full traceback."
    ).tag(config=True)
    base_url = Unicode("", help="API base URL (empty: VLMRUN_BASE_URL or the default).").tag(
        config=True
    )
    api_key = Unicode("", help="API key (empty: VLMRUN_API_KEY). Never displayed.").tag(config=True)
    timeout = Float(120.0, help="Seconds to wait for a completion or an execution.").tag(
        config=True
    )
    status_line = Enum(
        ["auto", "always", "never"],
        "auto",
        help="Show a status line while waiting ('auto': in a Jupyter kernel only).",
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.last_session: str | None = None
        self.last: Any = None  # the last Completion or Execution
        self.local_server: Any = None
        self._local_client: Client | None = None
        self._own_client: Client | None = None
        self._own_client_for: tuple[str, str] | None = None
        self._previous_default: Client | None = None

    @classmethod
    def class_get_trait_help(cls, trait: Any, inst: Any = None, helptext: Any = None) -> str:
        """`%config VlmRunMagics` lists current values; never the key's."""
        if trait.name == "api_key":
            inst = None
        return super().class_get_trait_help(trait, inst, helptext)

    # -- clients -----------------------------------------------------------------------------
    def client(self, need_key: bool = True) -> Client:
        """The local server's client while it runs, else one from the traits, else the default."""
        if self._local_client is not None:
            return self._local_client
        if self.api_key or self.base_url:
            wanted = (self.api_key, self.base_url)
            if self._own_client is None or self._own_client_for != wanted:
                if self._own_client is not None:
                    self._own_client.close()
                self._own_client = Client(
                    api_key=self.api_key or None, base_url=self.base_url or None
                )
                self._own_client_for = wanted
            client = self._own_client
        else:
            try:
                client = default_client()
            except ConfigurationError:
                if need_key:
                    raise
                client = self._own_client = Client()  # unkeyed: enough for --dry-run
                self._own_client_for = ("", "")
        if need_key and not client.settings.api_key:
            raise ConfigurationError("No VLM Run API key: VLMRUN_API_KEY is not set.")
        return client

    def secrets(self) -> list[str]:
        """Every key this magic might know (to redact from anything shown)."""
        keys = [self.api_key, os.environ.get("VLMRUN_API_KEY", "")]
        for c in (self._local_client, self._own_client):
            if c is not None:
                keys.append(c.settings.api_key or "")
        return [k for k in keys if k]

    def error_lines(self, exc: BaseException) -> list[str]:
        status = getattr(exc, "status", None)
        where = f" (HTTP {status})" if status else ""
        text = redact(str(exc), *self.secrets()).replace("\n", " ")
        return [f"{type(exc).__name__}{where}: {text}"]

    # -- parsing -----------------------------------------------------------------------------
    def _parse(self, argv: list[str]) -> Any:
        parser = self.vlmrun.parser
        try:
            return parser.parse_intermixed_args(argv)
        except UsageError as exc:
            raise UsageError(f"{exc}\n{parser.format_usage()}Try `%vlmrun help`.") from None

    @staticmethod
    def _split(line: str) -> list[str]:
        """Shell-like words, with `{{ ... }}` spans kept intact whatever they contain."""
        spans: list[str] = []

        def hide(m: re.Match[str]) -> str:
            spans.append(m.group(0))
            return f"\x00{len(spans) - 1}\x00"

        try:
            words = shlex.split(_INTERP.sub(hide, line))
        except ValueError as exc:
            raise UsageError(
                f"cannot parse the line ({exc}): quote the prompt, or use the %%vlmrun cell form."
            ) from None
        return [re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], w) for w in words]

    # -- the magic ---------------------------------------------------------------------------
    @magic_arguments()
    @argument("prompt", nargs="*", help="the prompt (line form; in %%%%vlmrun the cell body)")
    @argument("-m", "--model", help="model name (default: VlmRunMagics.default_model)")
    @argument("-s", "--schema", help="a pydantic class or JSON schema dict, by variable name")
    @argument(
        "-i",
        "--input",
        action="append",
        default=[],
        metavar="INPUT",
        help="an input: path, URL or variable name (repeatable)",
    )
    @argument("-o", "--out", metavar="VAR", help="also store the result in VAR")
    @argument("--session", metavar="new|last|ID", help="session to continue (default: last)")
    @argument("--agent", metavar="NAME", help="run as an agent execution and wait for it")
    @argument("--timeout", type=float, help="seconds to wait (default: VlmRunMagics.timeout)")
    @argument(
        "--dry-run", action="store_true", help="show the request (key redacted); send nothing"
    )
    @argument("--no-display", action="store_true", help="store the result without displaying it")
    @no_var_expand
    @needs_local_scope
    @line_cell_magic
    def vlmrun(self, line: str, cell: str | None = None, local_ns: Any = None) -> Any:
        """Run a VLM Run completion (or agent execution) and show the typed result.

        Line form: ``%vlmrun "prompt" [options]`` or ``%vlmrun SUBCOMMAND``;
        cell form: ``%%vlmrun [options]`` with the prompt in the cell body.
        """
        line = line.strip()
        quiet = line.endswith(";")
        if quiet:
            line = line[:-1].rstrip()
        if cell is None:
            first = line.split(None, 1)[0] if line else ""
            if first in SUBCOMMANDS:
                return self._subcommand(first, line[len(first) :].strip())
        args = self._parse(self._split(line))
        if cell is not None:
            if args.prompt:
                raise UsageError(
                    "%%vlmrun takes the prompt from the cell body; the line holds options only."
                )
            template = cell.strip()
        else:
            template = " ".join(args.prompt).strip()
        result = self.run(args, template, local_ns)
        if quiet or args.no_display:
            return None
        return result

    vlmrun.__doc__ = (vlmrun.__doc__ or "") + USAGE_EXAMPLES

    # -- running -----------------------------------------------------------------------------
    def _user_ns(self) -> dict[str, Any]:
        return self.shell.user_ns if self.shell is not None else {}

    def _lookup(self, name: str, local_ns: Any, what: str) -> Any:
        ns = self._user_ns()
        if not _NAME.match(name):
            raise UsageError(f"{what} must be a variable name, not {name!r}.")
        try:
            return eval(name, ns, local_ns)  # noqa: S307  (a dotted name only)
        except Exception:
            raise UsageError(f"{what} {name!r} is not defined in the notebook.") from None

    def _input(self, raw: str, local_ns: Any) -> Any:
        """-i VALUE: a variable (if one by that name exists) or a path/URL string."""
        root = raw.split(".", 1)[0]
        scope = {**self._user_ns(), **(local_ns if isinstance(local_ns, dict) else {})}
        if _NAME.match(raw) and root in scope:
            return self._lookup(raw, local_ns, "input")
        if _INTERP.fullmatch(raw.strip()):
            return interpolate(raw.strip(), self._user_ns(), local_ns).inputs or raw
        return raw

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

    def run(self, args: Any, template: str, local_ns: Any = None) -> Any:
        """Interpolate, send, wait, store; returns the typed result (or the dry-run request)."""
        ns = self._user_ns()
        prompt = interpolate(template, ns, local_ns)
        for raw in args.input:
            value = self._input(raw, local_ns)
            values = value if isinstance(value, list) else [value]
            prompt.inputs.extend(values)
            prompt.names.extend([raw if _NAME.match(raw) else None] * len(values))
        if not prompt.text and not prompt.inputs:
            raise UsageError("nothing to send: give a prompt (or inputs). Try `%vlmrun help`.")
        if args.out is not None and not args.out.isidentifier():
            raise UsageError(f"-o/--out needs a variable name, not {args.out!r}.")
        schema = None
        if args.schema:
            schema = self._lookup(args.schema, local_ns, "schema")
            if not (
                isinstance(schema, dict)
                or (isinstance(schema, type) and issubclass(schema, BaseModel))
            ):
                raise UsageError(
                    f"schema {args.schema!r} must be a pydantic model class or a JSON schema dict."
                )
        model = args.model or self.default_model or DEFAULT_MODEL
        timeout = args.timeout if args.timeout is not None else self.timeout
        session_id = self._session(args.session)

        if args.dry_run:
            return self._dry_run(args, prompt, schema, model, session_id)

        client = self.client()
        if args.agent:
            inputs = self._agent_inputs(prompt)

            def call(on_status: Any) -> Any:
                return client.execute(
                    args.agent,
                    prompt=prompt.text or None,
                    inputs=inputs,
                    schema=schema,
                    model=model,
                    timeout=timeout,
                    on_status=on_status,
                )
        else:

            def call(on_status: Any) -> Any:
                return client.complete(
                    prompt.text or None,
                    inputs=prompt.inputs,
                    schema=schema,
                    model=model,
                    session_id=session_id,
                    timeout=timeout,
                )

        outcome = self._wait(call, model)
        if isinstance(outcome, Completion) and outcome.session_id:
            self.last_session = outcome.session_id
        self.last = outcome
        ns["_vlmrun"] = outcome.result
        if args.out:
            ns[args.out] = outcome.result
        return outcome.result

    @staticmethod
    def _agent_inputs(prompt: Prompt) -> dict[str, Any]:
        """Execution inputs by variable name where there is one, else input_1, input_2..."""
        out: dict[str, Any] = {}
        for i, (value, name) in enumerate(zip(prompt.inputs, prompt.names, strict=True), 1):
            key = (name or f"input_{i}").replace(".", "_")
            while key in out:
                key += "_"
            out[key] = value
        return out

    def _show_status(self) -> bool:
        if self.status_line == "auto":
            return getattr(self.shell, "kernel", None) is not None
        return self.status_line == "always"

    def _wait(self, call: Any, model: str) -> Any:
        """Run `call` in a worker thread; the main thread shows status and takes Ctrl-C."""
        box: dict[str, Any] = {}

        def on_status(status: str, elapsed: float) -> None:
            box["status"] = status

        def worker() -> None:
            try:
                box["result"] = call(on_status)
            except BaseException as exc:  # handed to the main thread
                box["error"] = exc

        t0 = time.monotonic()
        status = _Status(model, self._show_status())
        thread = threading.Thread(target=worker, name="vlmrun-magic", daemon=True)
        try:
            thread.start()
            while thread.is_alive():
                thread.join(0.25)
                status.update(time.monotonic() - t0, box.get("status"))
        except KeyboardInterrupt:
            raise CancelledError(
                f"interrupted after {time.monotonic() - t0:.1f} s; nothing was stored."
            ) from None
        finally:
            status.clear()
        if "error" in box:
            raise box["error"]
        return box["result"]

    def _dry_run(
        self, args: Any, prompt: Prompt, schema: Any, model: str, session_id: str | None
    ) -> DryRun:
        client = self.client(need_key=False)
        headers = {"Authorization": "Bearer ***"} if client.settings.api_key else {}
        if args.agent:
            builder = PartBuilder()  # no upload, no fetch: placeholders only
            inputs = {}
            for key, value in self._agent_inputs(prompt).items():
                if isinstance(value, BaseRef):
                    inputs[key] = value.id
                elif _media_kind(value):
                    part = builder.part(value)
                    kind = part["type"]
                    inputs[key] = part["file_id"] if kind == "input_file" else part[kind]["url"]
                else:
                    inputs[key] = value
            config = {"prompt": prompt.text or None}
            if schema is not None:
                from .client import schema_json

                config["json_schema"] = schema_json(schema)
            body: dict[str, Any] = {
                "name": args.agent,
                "inputs": inputs,
                "batch": True,
                "model": model,
                "config": {k: v for k, v in config.items() if v is not None},
            }
            path = "agent/execute"
        else:
            body = client.build_request(
                prompt.text or None,
                inputs=prompt.inputs,
                schema=schema,
                model=model,
                session_id=session_id,
            )
            path = "openai/chat/completions"
        req = {
            "method": "POST",
            "url": f"{client.base_url}/{path}",
            "headers": headers,
            "json": _truncate_data_urls(body),
        }
        text = redact(json.dumps(req, default=str), *self.secrets())
        return DryRun(json.loads(text))

    # -- subcommands -------------------------------------------------------------------------
    def _subcommand(self, name: str, rest: str) -> Any:
        words = self._split(rest)
        if name == "help":
            print(self.vlmrun.__doc__)
            return None
        if name == "config":
            return self._config()
        if name == "local":
            return self._local(words)
        from IPython.core.magic_arguments import MagicArgumentParser

        parser = MagicArgumentParser(prog=f"%vlmrun {name}")
        if name == "get":
            parser.add_argument("ref_id")
        parser.add_argument("--session", metavar="ID")
        parser.add_argument("--execution", metavar="ID")
        try:
            opts = parser.parse_args(words)
        except UsageError as exc:
            raise UsageError(f"{exc}\n{parser.format_usage()}") from None
        if opts.session and opts.execution:
            raise UsageError("give --session or --execution, not both.")
        if name == "get":
            return self._get(opts.ref_id, opts.session, opts.execution)
        return self._artifacts(opts.session, opts.execution)

    def _namespace_for(self, session: str | None, execution: str | None) -> Namespace | None:
        try:
            if execution:
                return Namespace("execution", execution)
            if session:
                return Namespace("session", session)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        return None

    def _get(self, ref_id: str, session: str | None, execution: str | None) -> BaseRef:
        try:
            ref = make_ref(ref_id)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        ns = self._namespace_for(session, execution) or ref.namespace
        if ns is None and self.last_session:
            ns = Namespace("session", self.last_session)
        if ns is None:
            raise UsageError(
                f"{ref_id}: which session? Pass --session ID (no session has run yet)."
            )
        ref.bind(**{f"{ns.kind}_id": ns.id}, client=self.client())
        return ref

    def _artifacts(self, session: str | None, execution: str | None) -> list[BaseRef]:
        ns = self._namespace_for(session, execution)
        if ns is None:
            if not self.last_session:
                raise UsageError("no session yet: run a completion first, or pass --session ID.")
            ns = Namespace("session", self.last_session)
        refs = self.client().artifacts(**{f"{ns.kind}_id": ns.id})
        if not refs:
            print(f"No artifacts in {ns.kind} {ns.id}.")
        return refs

    def _config(self) -> None:
        try:
            client = self.client(need_key=False)
            base, cache = client.base_url, client.settings.cache_dir
        except VlmRunError as exc:
            base, cache = f"(invalid: {self.error_lines(exc)[0]})", "?"
        if self._local_client is not None:
            key = "set (local server)"
        elif self.api_key:
            key = "set (VlmRunMagics.api_key)"
        elif os.environ.get("VLMRUN_API_KEY"):
            key = "set (VLMRUN_API_KEY)"
        else:
            key = "not set: export VLMRUN_API_KEY, or run `%vlmrun local start`"
        server = self.local_server
        rows = [
            ("base URL", base),
            ("API key", key),
            ("model", self.default_model or f"{DEFAULT_MODEL} (default)"),
            ("cache dir", str(cache)),
            ("session", self.last_session or "none yet (the next run starts one)"),
            ("local server", f"running at {server.base_url}" if server else "not running"),
            ("timeout", f"{self.timeout:g} s"),
            ("short errors", "on" if self.short_errors else "off"),
        ]
        width = max(len(k) for k, _ in rows)
        text = "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
        print(redact(text, *self.secrets()))

    def _local(self, words: list[str]) -> None:
        action = words[0] if words else "status"
        if len(words) > 1 or action not in ("start", "stop", "status"):
            raise UsageError("usage: %vlmrun local start|stop|status")
        if action == "start":
            if self.local_server is None:
                from .local import LocalServer

                server = LocalServer().start()
                client = Client(api_key=server.api_key, base_url=server.base_url)
                self.local_server, self._local_client = server, client
                self.last_session = None
                from . import client as client_module

                self._previous_default = client_module._default  # restored by `local stop`
                set_default_client(client)
                print(
                    f"Local VLM Run server running at {server.base_url} (offline; its key is "
                    "generated and never shown). The magic and refs now use it; "
                    "`%vlmrun local stop` switches back."
                )
            else:
                print(f"Local VLM Run server already running at {self.local_server.base_url}.")
        elif action == "stop":
            if self.stop_local():
                print("Local VLM Run server stopped.")
            else:
                print("No local server is running.")
        else:
            server = self.local_server
            print(
                f"Local VLM Run server running at {server.base_url}."
                if server
                else "No local server is running (`%vlmrun local start` starts one)."
            )

    def stop_local(self) -> bool:
        """Stop the local server this magic started (and stop routing refs to it)."""
        server, client = self.local_server, self._local_client
        if server is None:
            return False
        self.local_server = self._local_client = None
        self.last_session = None
        set_default_client(self._previous_default)
        self._previous_default = None
        if client is not None:
            client.close()
        server.stop()
        return True

    def close(self) -> None:
        self.stop_local()
        if self._own_client is not None:
            self._own_client.close()
            self._own_client = None


# -- registration (called by extension.py) -----------------------------------------------------


def register(ip: Any) -> VlmRunMagics:
    """Register the magic once per shell and install the short VlmRunError tracebacks."""
    state = getattr(ip, _STATE, None)
    if state is not None:
        return state["magics"]
    magics = VlmRunMagics(shell=ip)
    ip.register_magics(magics)
    previous = (ip.custom_exceptions, ip.CustomTB)
    prev_types, prev_handler = previous

    def handler(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None):
        if not isinstance(value, VlmRunError):  # someone else's registered exception
            return prev_handler(etype, value, tb, tb_offset=tb_offset)
        if magics.short_errors:
            stb = magics.error_lines(value)
        else:
            full = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
            stb = [redact(line, *magics.secrets()) for line in full]
        shell._showtraceback(etype, value, stb)  # IPython leaves showing it to the handler
        return stb

    ip.set_custom_exc((VlmRunError, *prev_types), handler)
    setattr(ip, _STATE, {"magics": magics, "previous": previous, "custom_tb": ip.CustomTB})
    return magics


def unregister(ip: Any) -> None:
    """Remove the magic, stop its local server, restore the previous exception handler."""
    state = getattr(ip, _STATE, None)
    if state is None:
        return
    magics: VlmRunMagics = state["magics"]
    magics.close()
    mm = ip.magics_manager
    for kind in ("line", "cell"):
        if getattr(mm.magics[kind].get("vlmrun"), "__self__", None) is magics:
            del mm.magics[kind]["vlmrun"]
    if mm.registry.get("VlmRunMagics") is magics:
        del mm.registry["VlmRunMagics"]
    if magics in ip.configurables:
        ip.configurables.remove(magics)
    if ip.CustomTB is state["custom_tb"]:  # only if nobody replaced ours since
        ip.custom_exceptions, ip.CustomTB = state["previous"]
    delattr(ip, _STATE)


def get_magics(ip: Any) -> VlmRunMagics | None:
    """The registered magics instance (for tests and tools)."""
    state = getattr(ip, _STATE, None)
    return state["magics"] if state else None


__all__ = ["VlmRunMagics", "interpolate", "register", "unregister", "get_magics", "DryRun"]
