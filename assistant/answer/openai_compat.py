"""Any OpenAI-compatible chat endpoint (Ollama, vLLM, llama.cpp server, hosted APIs), streamed.

Configuration: base URL and model from settings (``CHECKPOINT_QA_OPENAI_BASE_URL``, ``CHECKPOINT_QA_LLM``); the
key only from the environment (``OPENAI_API_KEY``), never from a flag. The reply is read as server-sent events
(``data: {...}`` lines, ending with ``data: [DONE]``) with the standard library, so no client package is needed.
"""

from __future__ import annotations

import json
import os
from typing import Iterator, Sequence
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from ..errors import ModelError
from ..types import Hit
from .prompts import REWRITE, chat_messages, model_family


def source_triples(sources: Sequence[Hit]) -> list[tuple[int, str, str]]:
    """What the model reads of each source: title and the best-matching passage (not the whole abstract)."""
    return [(n, hit.record.title, hit.passage.body) for n, hit in enumerate(sources, start=1)]


class OpenAIEngine:
    name = "openai"

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 120.0,
                 max_tokens: int = 400, name: str = "openai"):
        if not base_url or not model:
            raise ModelError("the openai engine needs a base URL and a model: set CHECKPOINT_QA_OPENAI_BASE_URL "
                             "(e.g. http://127.0.0.1:11434/v1) and CHECKPOINT_QA_LLM")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = name  # "openai", or the engine as chosen ("ollama:llama3.2")
        self.family = model_family(model)
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens

    def _stream(self, messages: list[dict], max_tokens: int) -> Iterator[str]:
        body = json.dumps({"model": self.model, "messages": messages, "stream": True, "temperature": 0,
                           "max_tokens": max_tokens}).encode()
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = Request(f"{self.base_url}/chat/completions", data=body, headers=headers)
        try:
            response = urlopen(request, timeout=self.timeout_s)
        except HTTPError as exc:
            raise ModelError(f"the chat endpoint at {self.base_url} answered HTTP {exc.code}; check "
                             "CHECKPOINT_QA_LLM and OPENAI_API_KEY") from None
        except (URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ModelError(f"cannot reach the chat endpoint at {self.base_url} ({reason}); is the server "
                             "running?") from None
        with response:
            for raw in response:
                line = raw.decode("utf-8", errors="replace").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    delta = json.loads(data)["choices"][0].get("delta", {}).get("content")
                except (json.JSONDecodeError, KeyError, IndexError, AttributeError):
                    continue
                if delta:
                    yield delta

    def generate(self, question: str, sources: Sequence[Hit], query_vector=None) -> Iterator[str]:
        yield from self._stream(chat_messages(question, source_triples(sources), self.family), self.max_tokens)

    def rewrite(self, conversation: str) -> str:
        text = "".join(self._stream([{"role": "user", "content": REWRITE.format(conversation=conversation)}], 80))
        return text.strip().splitlines()[0].strip() if text.strip() else ""
