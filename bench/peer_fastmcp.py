"""The peer: FastMCP serving the Gumloop emulator through its OpenAPI integration.

Run by bench/stack.py as its own process: `python -m bench.peer_fastmcp --emulator URL --openapi FILE --port N`.
Stateless JSON answers, like our stateless path, so both sides do the same work per call.
"""

from __future__ import annotations

import argparse
import json
import logging

import httpx2
from fastmcp import FastMCP

EMULATOR_KEY = "gl-emulator-key"
EMULATOR_USER = "emu_user_1"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emulator", required=True, help="emulator base URL, e.g. http://127.0.0.1:8090")
    parser.add_argument("--openapi", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with open(args.openapi) as handle:
        spec = json.load(handle)
    client = httpx2.AsyncClient(
        base_url=f"{args.emulator.rstrip('/')}/api/v1",
        headers={"Authorization": f"Bearer {EMULATOR_KEY}", "x-auth-key": EMULATOR_USER},
        params={"user_id": EMULATOR_USER},
        timeout=30,
    )
    server = FastMCP.from_openapi(openapi_spec=spec, client=client, name="fastmcp-peer")
    server.run(
        transport="http",
        host="127.0.0.1",
        port=args.port,
        show_banner=False,
        log_level="warning",
        stateless_http=True,
        json_response=True,
    )


if __name__ == "__main__":
    main()
