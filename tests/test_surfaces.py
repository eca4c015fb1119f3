"""Same data, same answers: one question asked through every surface (the library, the CLI, the HTTP API, the
OpenAI-compatible endpoint, MCP) gets the same citations, and one query searched through every retrieval surface
(the library, the CLI, HTTP, MCP, LangChain, LlamaIndex) the same papers in the same order."""

import asyncio
import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from test_mcp import payload, server_params

from assistant import Answerer, Retriever, load_settings
from assistant.cli import cli
from assistant.server import create_api

pytestmark = pytest.mark.model
QUESTION = "What is the role of TGF-beta in resistance to PD-L1 blockade?"
QUERY = "JAK1 JAK2 loss of function"


async def mcp_calls(index):
    from mcp import ClientSession
    from mcp.client.stdio import stdio_client
    async with stdio_client(server_params(index)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            hits = await session.call_tool("search", {"query": QUERY, "k": 5})
            answer = await session.call_tool("ask", {"question": QUESTION})
            return hits, answer


def test_every_surface_gives_the_same_citations_and_the_same_papers(shipped_minilm_kb):
    pytest.importorskip("mcp")
    pytest.importorskip("langchain_core")
    pytest.importorskip("llama_index.core")
    from assistant.integrations.langchain import CheckpointQARetriever
    from assistant.integrations.llamaindex import CheckpointQALlamaRetriever

    retriever = Retriever.load(shipped_minilm_kb)
    answerer = Answerer(retriever, load_settings({}))
    answer = answerer.answer(QUESTION).to_dict()
    library = [c["id"] for c in answer["citations"]] + [r["id"] for r in answer["related"]]
    papers = [h.record.id for h in retriever.search(QUERY, 5)]
    assert len(answer["citations"]) >= 2 and len(papers) == 5

    runner, index = CliRunner(), ["--index", str(shipped_minilm_kb)]
    cli_answer = json.loads(runner.invoke(cli, ["ask", QUESTION, "--json", *index]).output)
    cli_hits = json.loads(runner.invoke(cli, ["search", QUERY, "--json", "-k", "5", *index]).output)

    http = TestClient(create_api(answerer))
    http_answer = http.post("/ask", json={"question": QUESTION}).json()
    http_hits = http.post("/search", json={"query": QUERY, "k": 5}).json()["hits"]
    openai_answer = http.post("/v1/chat/completions", json={"model": "extractive", "messages": [
        {"role": "user", "content": QUESTION}]}).json()

    mcp_hits, mcp_answer = asyncio.run(mcp_calls(shipped_minilm_kb))
    langchain = CheckpointQARetriever(retriever=retriever, k=5).invoke(QUERY)
    llamaindex = CheckpointQALlamaRetriever(retriever, k=5).retrieve(QUERY)

    def cited(shown: dict) -> list[str]:  # quoted citations, then related papers known by title
        return [c["id"] for c in shown["citations"]] + [r["id"] for r in shown["related"]]

    answers = {"cli": cited(cli_answer), "http": cited(http_answer), "mcp": cited(payload(mcp_answer)),
               "openai": [c["id"] for c in openai_answer["citations"]]}
    assert answers == {surface: library for surface in answers}
    searches = {"cli": [h["id"] for h in cli_hits], "http": [h["id"] for h in http_hits],
                "mcp": [h["id"] for h in payload(mcp_hits)],
                "langchain": [d.metadata["id"] for d in langchain],
                "llamaindex": [n.node.metadata["id"] for n in llamaindex]}
    assert searches == {surface: papers for surface in searches}
