"""The `vlmrun-jupyter` command: `serve` runs the local server in a terminal."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .local import LocalServer

    # The key comes from the user (flag or environment) and is never printed or logged.
    key = args.api_key or os.environ.get("VLMRUN_API_KEY")
    if not key:
        print(
            "error: give the key clients must send: --api-key KEY or VLMRUN_API_KEY",
            file=sys.stderr,
        )
        return 2
    server = LocalServer(
        api_key=key,
        host=args.host,
        port=args.port,
        ttl=args.ttl,
        data_dir=args.data_dir,
        allow_input_urls=args.allow_input_url,
    )
    base = f"http://{args.host}:{args.port}/v1"
    print(f"VLM Run local server on {base}  (Ctrl-C stops it)", flush=True)
    print(f"  export VLMRUN_BASE_URL={base}", flush=True)
    try:
        uvicorn.Server(server.uvicorn_config(port=args.port)).run()
    finally:
        server.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vlmrun-jupyter", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the local VLM Run server (offline, loopback)")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    serve.add_argument(
        "--api-key", default=None, help="bearer key clients must send (default: $VLMRUN_API_KEY)"
    )
    serve.add_argument(
        "--ttl", type=float, default=24 * 3600, help="session lifetime in seconds (default 24 h)"
    )
    serve.add_argument(
        "--data-dir", default=None, help="where artifacts are stored (default: a temp dir)"
    )
    serve.add_argument(
        "--allow-input-url",
        action="append",
        default=[],
        metavar="PREFIX",
        help="a URL prefix inputs may be fetched from (repeatable; by default only the "
        "server's own files: nothing else on this machine is reachable through it)",
    )
    serve.set_defaults(func=_serve)

    # `demo` is added by vlmrun_jupyter.demo when the notebooks land.
    try:
        from .demo import add_parser as add_demo
    except ImportError:
        pass
    else:
        add_demo(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and extra[0] == "--":
        extra = extra[1:]
    if extra and not (getattr(args, "takes_extra", False) and getattr(args, "lab", False)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
