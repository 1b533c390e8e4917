"""End-to-end check of mcp-v8 with the official Python MCP SDK (`mcp` on PyPI).

Usage:
    python_client.py --url http://127.0.0.1:3000/mcp [--mode auto|legacy|2026-07-28]
    python_client.py --stdio /path/to/mcp-v8 [server flags...]

Lists tools, runs code with and without a session, checks a JavaScript error,
progress notifications and cancellation of an endless run, then prints one
line "python client OK ..." and exits 0; any failure raises (exit 1).
"""

from __future__ import annotations

import argparse
import sys
import time

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters


def structured(result):
    assert result.structured_content is not None, result
    return result.structured_content


async def check(client: Client, label: str, session_name: str) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    for name in ("run_js", "list_sessions", "get_session", "delete_session", "get_heap"):
        assert name in tools, f"{name} missing: {sorted(tools)}"
    assert "code" in tools["run_js"].input_schema["properties"]

    ok = await client.call_tool("run_js", {"code": "console.log('py'); 6 * 7"})
    assert not ok.is_error, ok
    assert structured(ok)["result"] == 42 and structured(ok)["stdout"] == "py", ok

    thrown = await client.call_tool("run_js", {"code": "throw new TypeError('bad ' + 1)"})
    assert thrown.is_error, thrown
    error = structured(thrown)["error"]
    assert error["name"] == "TypeError" and error["message"] == "bad 1", error
    assert "TypeError" in error.get("stack", ""), error

    first = await client.call_tool("run_js", {"code": "var total = 40", "session": session_name})
    assert not first.is_error, first
    second = await client.call_tool("run_js", {"code": "total + 2", "session": session_name})
    assert structured(second)["result"] == 42, second
    listed = await client.call_tool("list_sessions", {})
    assert any(s["name"] == session_name for s in structured(listed)["items"]), listed
    deleted = await client.call_tool("delete_session", {"name": session_name})
    assert structured(deleted)["deleted"] == session_name, deleted

    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    slow = await client.call_tool(
        "run_js",
        {"code": "await new Promise(r => setTimeout(r, 1600)); 'slept'"},
        progress_callback=on_progress,
    )
    assert structured(slow)["result"] == "slept", slow
    assert len(progress) >= 2, progress

    # Cancel an endless run; with one worker the next call only completes if
    # the cancellation killed it.
    with anyio.move_on_after(0.5):
        await client.call_tool("run_js", {"code": "while (true) {}"})
        raise AssertionError("an endless run returned")
    started = time.monotonic()
    with anyio.fail_after(15):
        after = await client.call_tool("run_js", {"code": "'after cancel'"})
    assert structured(after)["result"] == "after cancel", after
    print(
        f"python client OK: {label}, protocol {client.protocol_version}, "
        f"cancel freed the worker in {time.monotonic() - started:.2f}s, "
        f"{len(progress)} progress notifications"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url")
    target.add_argument("--stdio", nargs=argparse.REMAINDER)
    parser.add_argument("--mode", default="auto")
    args = parser.parse_args()
    if args.url:
        server, label = args.url, f"streamable HTTP ({args.mode})"
    else:
        server = StdioServerParameters(command=args.stdio[0], args=args.stdio[1:])
        label = f"stdio ({args.mode})"
    async with Client(server, mode=args.mode) as client:
        await check(client, label, f"python-{args.mode}-{int(time.time())}")


if __name__ == "__main__":
    try:
        anyio.run(main)
    except Exception as exc:  # one readable line for the runner
        print(f"python client FAILED: {exc!r}", file=sys.stderr)
        raise
