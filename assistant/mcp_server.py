"""The retriever and the answerer as MCP tools (``mcp`` package, stdio transport).

Tools return the same JSON shapes as ``search --json`` and ``ask --json``. Run with ``checkpoint-qa mcp``; the
README shows the client configuration.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from .answer import Answerer
from .errors import AssistantError
from .retriever import Filters


@contextmanager
def _said_plainly() -> Iterator[None]:
    """The library's own one-line message reaches the client (a ``ToolError``), not a generic "Error executing
    tool"."""
    try:
        yield
    except AssistantError as exc:
        from mcp.server.mcpserver.exceptions import ToolError
        raise ToolError(str(exc)) from None


def create_mcp(answerer: Answerer):
    try:
        from mcp.server.mcpserver import MCPServer
    except ImportError:
        raise AssistantError("the MCP server needs the mcp package; install it with: pip install 'mcp>=2'") from None
    retriever = answerer.retriever
    server = MCPServer("checkpoint-qa", log_level="WARNING", instructions=(
        "Search and answer questions about resistance to immune checkpoint inhibitors from a local literature "
        "knowledge base. Answers carry numbered citations with verbatim quotes."))

    @server.tool(description="Search the literature knowledge base; returns ranked papers (one per paper) with "
                             "title, authors, year, journal, PMID/DOI link and the matching passage.")
    def search(query: str, k: int = 8, year_min: int | None = None, year_max: int | None = None) -> list[dict]:
        k = max(1, min(int(k), 50))
        with _said_plainly():
            return [h.to_dict() for h in retriever.search(query, k, Filters(year_min, year_max))]

    @server.tool(description="Answer a question with numbered citations that quote their sources, or refuse "
                             "when the knowledge base does not cover it.")
    def ask(question: str) -> dict:
        with _said_plainly():
            return answerer.answer(question).to_dict()

    return server
