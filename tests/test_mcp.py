"""An MCP client lists the server's tools and calls search, over stdio, like a desktop assistant would."""

import asyncio
import json
import os
import sys

import pytest

from assistant.pipeline import build_knowledge_base
from conftest import FAKE, ROOT, SHIPPED

mcp = pytest.importorskip("mcp")


def server_params(index):
    """``checkpoint-qa mcp`` on ``index``, as a desktop assistant would start it (stdio)."""
    from mcp.client.stdio import StdioServerParameters
    return StdioServerParameters(command=sys.executable, args=["-m", "assistant", "mcp", "--index", str(index)],
                                 env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}, cwd=str(ROOT))


async def session_run(index):
    from mcp import ClientSession
    from mcp.client.stdio import stdio_client
    async with stdio_client(server_params(index)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            result = await session.call_tool("search", {"query": "JAK1 JAK2 mutations PD-1 blockade", "k": 3})
            answer = await session.call_tool("ask", {"question": "What is the capital of Australia?"})
            bad = await session.call_tool("search", {"query": "x" * 3000})
            return tools, result, answer, bad


def payload(result):
    """A tool result's value: structured content when the server sent it, else the JSON text."""
    structured = getattr(result, "structured_content", getattr(result, "structuredContent", None))
    if isinstance(structured, dict) and set(structured) == {"result"}:
        return structured["result"]
    if structured is not None:
        return structured
    values = [json.loads(c.text) for c in result.content]
    return values[0] if len(values) == 1 else values


def test_mcp_client_lists_tools_and_searches(tmp_path):
    build_knowledge_base(corpus=SHIPPED, index=tmp_path / "kb", model=FAKE)
    tools, result, answer, bad = asyncio.run(asyncio.wait_for(session_run(tmp_path / "kb"), timeout=120))
    assert {t.name for t in tools.tools} == {"search", "ask"}
    assert not getattr(result, "is_error", getattr(result, "isError", False))
    hits = payload(result)
    assert len(hits) == 3 and hits[0]["title"] and hits[0]["url"]
    assert any("JAK1/2" in h["title"] for h in hits)
    assert payload(answer)["refused"] is True
    assert getattr(bad, "is_error", getattr(bad, "isError", False))
    message = " ".join(c.text for c in bad.content)
    assert "keep it under 2000" in message  # the library's own message, not a generic "Error executing tool"
