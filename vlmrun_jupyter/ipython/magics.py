"""`%vlmrun` / `%%vlmrun`: argument parsing and configuration; the work is `Runner`'s.

Modelled on IPython's own magics: one `Magics` class for the topic, whose methods
parse (IPython's `magic_arguments`; unknown flags are errors) and hand off. The
`Runner` (runner.py) interpolates, picks the client, sends and waits; the
subcommands live in subcommands.py. Configuration is traitlets
(`%config VlmRunMagics.default_model = ...`), falling back to the environment.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
)
from IPython.core.magic_arguments import MagicArgumentParser, argument, magic_arguments
from IPython.display import display
from traitlets import Bool, Enum, Float, Unicode

from ..client import DEFAULT_MODEL
from . import subcommands
from .help import help_page
from .interpolate import split_words
from .runner import Request, Runner
from .suggest import did_you_mean

SUBCOMMANDS = subcommands.NAMES

USAGE_EXAMPLES = "\n" + help_page(local=False).text()  # `%vlmrun?` reads as plain text


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
        self.runner = Runner(self, shell)

    @classmethod
    def class_get_trait_help(cls, trait: Any, inst: Any = None, helptext: Any = None) -> str:
        """`%config VlmRunMagics` lists current values; never the key's."""
        if trait.name == "api_key":
            inst = None
        return super().class_get_trait_help(trait, inst, helptext)

    # -- the runner's state, where tests and tools look for it ----------------------------
    @property
    def last_session(self) -> str | None:
        return self.runner.last_session

    @last_session.setter
    def last_session(self, value: str | None) -> None:
        self.runner.last_session = value

    @property
    def last(self) -> Any:
        """The last Completion or Execution."""
        return self.runner.last

    @property
    def local_server(self) -> Any:
        return self.runner.clients.local_server

    def stop_local(self) -> bool:
        """Stop the local server this magic started (and stop routing refs to it)."""
        return self.runner.stop_local()

    def close(self) -> None:
        self.runner.close()

    def secrets(self) -> list[str]:
        """Every key this magic might know (to redact from anything shown)."""
        return self.runner.secrets()

    def error_lines(self, exc: BaseException) -> list[str]:
        return self.runner.error_lines(exc)

    # -- the magic ----------------------------------------------------------------------------
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
    @argument(
        "--over",
        metavar="NAME",
        help="one run per item of NAME (a list, a pandas Series or DataFrame column, a "
        "folder path); {{ item }} in the prompt is the item; returns a BatchResult",
    )
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

        Line form: %vlmrun "prompt" [options] or %vlmrun SUBCOMMAND;
        cell form: %%vlmrun [options] with the prompt in the cell body.
        """
        line = line.strip()
        quiet = line.endswith(";")
        if quiet:
            line = line[:-1].rstrip()
        if cell is None:
            name = subcommands.route(line)
            if name is not None:
                return self._subcommand(name, line[len(name) :].strip())
        args = self._parse(self.vlmrun.parser, split_words(line), "Try `%vlmrun help`.")
        if cell is not None and args.prompt:
            raise UsageError(
                "%%vlmrun takes the prompt from the cell body; the line holds options only."
            )
        template = cell.strip() if cell is not None else " ".join(args.prompt).strip()
        request = Request(
            template=template,
            inputs=args.input,
            schema=args.schema,
            model=args.model,
            session=args.session,
            agent=args.agent,
            over=args.over,
            timeout=args.timeout,
            dry_run=args.dry_run,
            out=args.out,
            display=not (quiet or args.no_display),
        )
        result = self.runner.run(request, local_ns)
        return None if quiet or args.no_display else result

    vlmrun.__doc__ = (vlmrun.__doc__ or "") + USAGE_EXAMPLES

    @staticmethod
    def _parse(parser: Any, words: list[str], hint: str = "") -> Any:
        """Parsed options; a UsageError carries the usage line."""
        try:
            return parser.parse_intermixed_args(words)
        except UsageError as exc:
            flags = [o for a in parser._actions for o in a.option_strings]
            typos = [w for w in words if w.startswith("-") and w not in flags]
            nearby = "".join(did_you_mean(w, flags) for w in typos[:1])
            usage = parser.format_usage().replace("::\n\n", "")
            raise UsageError(f"{exc}.{nearby} Nothing was sent.\n{usage}{hint}") from None

    def _subcommand(self, name: str, rest: str) -> Any:
        words = split_words(rest)
        if name in ("help", "config", "error") and words:
            raise UsageError(
                f"`%vlmrun {name}` takes no arguments; nothing was sent "
                f"(`%vlmrun -- {name} ...` sends it as a prompt)."
            )
        if name == "help":
            display(help_page(self.runner.clients.local_server is not None))
            return None
        if name == "config":
            return subcommands.config(self.runner)
        if name == "error":
            return subcommands.last_error(self.runner)
        if name == "local":
            if len(words) > 1 or (words and words[0] not in subcommands.LOCAL_ACTIONS):
                nearby = did_you_mean(words[0], subcommands.LOCAL_ACTIONS) if words else ""
                raise UsageError(f"usage: %vlmrun local start|stop|status.{nearby}")
            return subcommands.local(self.runner, words[0] if words else "status")
        parser = MagicArgumentParser(prog=f"%vlmrun {name}")
        if name == "get":
            parser.add_argument("ref_id")
        parser.add_argument("--session", metavar="ID")
        parser.add_argument("--execution", metavar="ID")
        opts = self._parse(parser, words)
        if opts.session and opts.execution:
            raise UsageError("give --session or --execution, not both.")
        if name == "get":
            return subcommands.get(self.runner, opts.ref_id, opts.session, opts.execution)
        return subcommands.artifacts(self.runner, opts.session, opts.execution)


__all__ = ["VlmRunMagics", "SUBCOMMANDS", "USAGE_EXAMPLES"]
