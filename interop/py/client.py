"""Drives Proem's MCP server with the official Python SDK, as an agent host would: list tools,
create a prompt, run it with progress, finalize the run, read the record back. Prints one JSON
summary line on stdout and exits non-zero when a check fails.

  python client.py --http http://127.0.0.1:8080/mcp --key pmk_… [--model MODEL_ID]
  python client.py --stdio /path/to/proem --url http://127.0.0.1:8080 --key pmk_… [--model MODEL_ID]
"""

import argparse
import importlib.metadata
import json
import re
import sys
import tempfile
import traceback
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx2
from mcp import Client, Implementation, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

SDK_VERSION = importlib.metadata.version("mcp")
NEEDED_TOOLS = ["proem_get_catalog", "proem_create_prompt", "proem_run_prompt", "proem_finalize_run", "proem_get_record"]


class CheckFailed(Exception):
    pass


def check(ok: bool, what: str, detail: Any = None) -> None:
    if not ok:
        raise CheckFailed(what if detail is None else f"{what}: {detail!r}")


async def call(client: Client, name: str, arguments: dict[str, Any], **options: Any) -> Any:
    """Calls a tool and returns the result; a tool error fails the run."""
    result = await client.call_tool(name, arguments, **options)
    check(not result.is_error, f"{name} succeeded", result.content)
    check(isinstance(result.structured_content, dict), f"{name} has structuredContent", result)
    return result


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        if args.http:
            transport_name = "streamable-http"
            http = await stack.enter_async_context(
                httpx2.AsyncClient(
                    headers={"Authorization": f"Bearer {args.key}"},
                    timeout=httpx2.Timeout(30, read=300),
                )
            )
            server: Any = streamable_http_client(args.http, http_client=http)
        else:
            transport_name = "proem-mcp-stdio"
            # A config dir of its own, so no saved login on this machine is read.
            config_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="proem-interop-"))
            server = StdioServerParameters(
                command=args.stdio,
                args=["mcp"],
                env={"PROEM_API_URL": args.url, "PROEM_API_KEY": args.key, "PROEM_CONFIG_DIR": config_dir},
            )
        client = await stack.enter_async_context(Client(server, client_info=Implementation(name="proem-interop-py", version=SDK_VERSION)))

        info = client.server_info
        check(info is not None and info.name == "proem", "serverInfo.name is proem", info)

        tools: list[str] = []
        cursor = None
        while True:
            page = await client.list_tools(cursor=cursor)
            tools += [t.name for t in page.tools]
            cursor = page.next_cursor
            if not cursor:
                break
        for name in NEEDED_TOOLS:
            check(name in tools, f"tools/list has {name}", tools)

        catalog = (await call(client, "proem_get_catalog", {})).structured_content
        check(len(catalog.get("models") or []) > 0, "the catalog lists models", catalog)
        model_id = args.model or catalog["models"][0]["model_id"]
        check(any(m["model_id"] == model_id for m in catalog["models"]), f"the catalog has {model_id}")

        created = (
            await call(
                client,
                "proem_create_prompt",
                {
                    "name": f"Interop Python SDK {transport_name}",
                    "promptText": "Summarize the input in one line.",
                    "modelSettings": {"model_id": model_id, "parameters": {}},
                },
            )
        ).structured_content
        check(re.match(r"^prm_", created.get("promptId") or "") is not None, "proem_create_prompt returns a promptId", created)

        # With a progress callback the SDK sends a progress token; each message is a text delta.
        progress: list[tuple[float, str | None]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, message))

        ran = await call(
            client,
            "proem_run_prompt",
            {"promptId": created["promptId"], "userInput": "interop", "autoFinalize": False},
            progress_callback=on_progress,
        )
        run = ran.structured_content
        deltas = [m for _, m in progress]
        check(len(progress) > 0, "at least one progress notification arrived")
        check(all(isinstance(d, str) and d for d in deltas), "every progress notification carries delta text", progress)
        check(all(b[0] > a[0] for a, b in zip(progress, progress[1:])), "progress increases", progress)
        check("".join(deltas) == run["outputText"], "the output equals the concatenated deltas", (deltas, run["outputText"]))
        first = ran.content[0] if ran.content else None
        check(getattr(first, "text", None) == run["outputText"], "the first content block is the output", ran.content)
        check(run.get("recordId") is None and run["state"] == "Active", "autoFinalize false leaves the run unsaved", run)

        finalized = (await call(client, "proem_finalize_run", {"runId": run["runId"]})).structured_content
        check(re.match(r"^rec_", finalized.get("recordId") or "") is not None, "proem_finalize_run returns a recordId", finalized)

        record = (await call(client, "proem_get_record", {"recordId": finalized["recordId"]})).structured_content
        check(record["id"] == finalized["recordId"], "proem_get_record returns that record", record)
        check(record["runSessionId"] == run["runId"], "the record is of this run", record)
        check(record["outputText"] == run["outputText"], "the record holds the streamed output", record)

        return {
            "sdk": "python",
            "sdkVersion": SDK_VERSION,
            "transport": transport_name,
            "protocolVersion": client.protocol_version,
            "server": {"name": info.name, "version": info.version},
            "tools": len(tools),
            "modelId": model_id,
            "promptId": created["promptId"],
            "runId": run["runId"],
            "recordId": finalized["recordId"],
            "deltas": deltas,
            "outputText": run["outputText"],
        }


def leaves(error: BaseException) -> list[BaseException]:
    """The errors inside the task groups the client nests what went wrong in."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http", help="the server's MCP endpoint, e.g. http://127.0.0.1:8080/mcp")
    parser.add_argument("--stdio", help="the proem binary, run as `proem mcp`")
    parser.add_argument("--url", help="with --stdio: the server, PROEM_API_URL")
    parser.add_argument("--key", required=True, help="a pmk_… key")
    parser.add_argument("--model", help="model_id to use (default: the catalog's first)")
    args = parser.parse_args()
    if bool(args.http) == bool(args.stdio) or (args.stdio and not args.url):
        parser.error("pass --http MCP_URL, or --stdio PROEM_BIN with --url SERVER_URL")
    return args


if __name__ == "__main__":
    args = parse_args()
    try:
        summary = anyio.run(main, args)
    except Exception as e:  # any failure, check or protocol, is a failed run
        traceback.print_exc()
        for error in leaves(e):
            print(f"python client (mcp {SDK_VERSION}): {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(summary))
