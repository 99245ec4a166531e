"""Drives Sluice's MCP door with the official MCP Python SDK (PyPI `mcp`) and prints a JSON report.

Usage: mcp_check.py SPEC_JSON

SPEC_JSON says how to connect and what to do:
  {"transport": "http", "url": "http://127.0.0.1:PORT/mcp", "token": "...",
   "headers": {...} (instead of "token": the headers of a client configuration),
   "handshake": "initialize" | "discover",
   "steps": [...]}
  {"transport": "stdio", "command": "/path/to/sluice", "args": ["mcp", "stdio", ...],
   "env": {"SLUICE_TOKEN": "..."}, "handshake": "initialize", "steps": [...]}

Steps, run in order, each adding one entry to the report's "steps":
  {"list": true}                               tools/list: every tool's name, annotations, schemas
  {"call": "select_reservations", "args": {}}  tools/call: is_error, structured content, text
  {"sleep": 1.5}                               wait
  {"append": {"path": "...", "line": "..."}}   append a line to a file (a revocation list)

The report: {"connected": true, "protocol_version": ..., "server": ..., "steps": [...]}, or
{"connected": false, "error": "..."} when the connection or handshake fails. The Rust test
(integration/tests/mcp.rs) asserts on it; this script checks nothing itself.
"""

import asyncio
import json
import sys
from contextlib import AsyncExitStack

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def dump(model):
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


def flatten(exc):
    """The messages of an exception and, for exception groups, of everything inside."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(flatten(e) for e in exc.exceptions)
    error = getattr(exc, "error", None)  # MCPError: the JSON-RPC error the server sent
    if error is not None and hasattr(error, "model_dump"):
        return f"{type(exc).__name__}: {json.dumps(error.model_dump(mode='json', exclude_none=True))}"
    return f"{type(exc).__name__}: {exc}"


async def run_steps(session, steps):
    out = []
    for step in steps:
        if "list" in step:
            tools = await session.list_tools()
            out.append({"tools": [dump(t) for t in tools.tools]})
        elif "call" in step:
            try:
                result = await session.call_tool(step["call"], step.get("args") or {})
            except Exception as e:  # a protocol error, not a tool error
                out.append({"protocol_error": flatten(e)})
                continue
            texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
            out.append(
                {
                    "is_error": bool(result.is_error),
                    "structured": result.structured_content,
                    "text": "\n".join(texts),
                }
            )
        elif "sleep" in step:
            await asyncio.sleep(step["sleep"])
            out.append({"slept": step["sleep"]})
        elif "append" in step:
            with open(step["append"]["path"], "a", encoding="utf-8") as f:
                f.write(step["append"]["line"] + "\n")
            out.append({"appended": True})
        else:
            raise ValueError(f"unknown step {step}")
    return out


async def main(spec):
    report = {"connected": False}
    try:
        async with AsyncExitStack() as stack:
            if spec["transport"] == "http":
                headers = spec.get("headers") or {"Authorization": f"Bearer {spec['token']}"}
                http = await stack.enter_async_context(create_mcp_http_client(headers=headers))
                read, write = await stack.enter_async_context(
                    streamable_http_client(spec["url"], http_client=http)
                )
            else:
                params = StdioServerParameters(
                    command=spec["command"], args=spec.get("args", []), env=spec.get("env", {})
                )
                read, write = await stack.enter_async_context(stdio_client(params))
            session = await stack.enter_async_context(ClientSession(read, write))
            if spec.get("handshake", "initialize") == "discover":
                await session.discover()
            else:
                await session.initialize()
            report["connected"] = True
            report["protocol_version"] = session.protocol_version
            info = session.server_info
            report["server"] = dump(info) if info is not None else None
            report["steps"] = await run_steps(session, spec.get("steps", []))
    except BaseException as e:  # noqa: BLE001 - the report says what failed
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        report["error"] = flatten(e)
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
