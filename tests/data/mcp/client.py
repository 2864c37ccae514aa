"""An MCP client (the official Python SDK) against `rtt mcp`, for tests/mcp.rs.

Usage: client.py RTT WORKSPACE
Connects to `RTT mcp` started in WORKSPACE (following the applied plan),
lists and reads every resource, subscribes to each, lists and calls tools,
then applies the next plan (`switch.sh` in WORKSPACE) and waits for the
server's notifications, reading everything again. Prints one JSON report.
"""
import json
import subprocess
import sys

import anyio
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client

RTT, WORKSPACE = sys.argv[1], sys.argv[2]


async def read_all(session):
    listed = await session.list_resources()
    out = {}
    for resource in listed.resources:
        read = await session.read_resource(str(resource.uri))
        [content] = read.contents
        out[str(resource.uri)] = {"name": resource.name, "mimeType": content.mime_type, "text": content.text}
    return out


async def main():
    notes = []
    changed = anyio.Event()

    async def on_message(message):
        if isinstance(message, types.ResourceUpdatedNotification):
            notes.append({"method": "notifications/resources/updated", "uri": str(message.params.uri)})
            changed.set()
        elif isinstance(message, types.ResourceListChangedNotification):
            notes.append({"method": "notifications/resources/list_changed"})
            changed.set()

    server = StdioServerParameters(command=RTT, args=["mcp"], cwd=WORKSPACE)
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write, message_handler=on_message) as session:
            init = await session.initialize()
            before = await read_all(session)
            for uri in before:
                await session.subscribe_resource(uri)
            tools = await session.list_tools()
            verified = await session.call_tool("verify", {"plan": "plan.json"})
            missing = None
            try:
                await session.read_resource("rtt://claude/nope@1")
            except Exception as e:  # the SDK raises the server's JSON-RPC error
                missing = str(e)
            subprocess.run(["bash", "switch.sh"], cwd=WORKSPACE, check=True, stdout=sys.stderr)
            with anyio.fail_after(30):
                await changed.wait()
            await anyio.sleep(1)  # every notification of the switch
            after = await read_all(session)
    print(json.dumps({
        "protocolVersion": init.protocol_version,
        "capabilities": init.capabilities.model_dump(mode="json", exclude_none=True),
        "before": before,
        "after": after,
        "notifications": notes,
        "tools": sorted(t.name for t in tools.tools),
        "verify": {"isError": verified.is_error, "text": verified.content[0].text},
        "missing": missing,
    }))


anyio.run(main)
