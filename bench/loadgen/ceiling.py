"""The ceiling for this stack: a bare WSGI app on waitress serving stored bodies from memory.

Same waitress settings as the portal, same bytes (one real portal response per
User-Agent and query), no framework, no database: what bench_serving divides by.

usage: python -m bench.loadgen.ceiling <bodies.pickle> <port>
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.loadgen.harness import serve_waitress

#: (User-Agent, query string) -> (status line, headers, body)
Bodies = dict[tuple[str, str], tuple[str, list[tuple[str, str]], bytes]]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def make_app(bodies: Bodies) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    fallback = next(iter(bodies.values()))

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        key = (environ.get("HTTP_USER_AGENT", ""), environ.get("QUERY_STRING", ""))
        status, headers, body = bodies.get(key, fallback)
        start_response(status, headers)
        return [body]

    return app


def main() -> None:
    bodies: Bodies = pickle.loads(Path(sys.argv[1]).read_bytes())
    serve_waitress(make_app(bodies), int(sys.argv[2]))


if __name__ == "__main__":
    main()
