"""An OpenAI-compatible chat endpoint, so chat front ends that speak the OpenAI API (Open WebUI, LibreChat, the
``openai`` client) use Checkpoint QA as a model.

``GET /v1/models`` lists the engines the server enabled (``serve --engines``) as models. ``POST
/v1/chat/completions`` answers the last user message through the same ``Answerer`` as ``/ask``, the chat and the
CLI: earlier user messages are the conversation's history (so "and in lung cancer?" is read in context), and a
follow-up that points at a source of this server's previous answer ("what did [2] find?") rereads that paper, found
by the text of the assistant message the client sends back. The reply is the answer text with its numbered
references appended, as a researcher would paste it; the structured citations (PMID, DOI, link, quote) ride in an
extra ``citations`` field, on the response or on the stream's last chunk. Streaming follows OpenAI's chunk format
and ends with ``data: [DONE]``. It carries the checked answer, paragraph by paragraph, once every citation has
been checked against its source: an engine's draft is rewritten by that check (unverified sentences dropped, the
findings and the related papers laid out), and a stream cannot take back text a client has shown, so the draft is
not sent; while an engine writes, SSE comments keep the connection alive. Errors come in OpenAI's shape
(``{"error": {"message", "type", "param", "code"}}``) so clients show them.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections import OrderedDict
from typing import Any, Callable, Iterable

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from .answer import Answerer
from .errors import AssistantError
from .limits import MAX_HISTORY_TURNS, MAX_QUERY_CHARS
from .render import plain_answer
from .types import Answer

MAX_MESSAGES = 200
REMEMBERED = 256  # answers kept per process so a follow-up can point at their sources
HEARTBEAT_S = 5.0  # seconds between keep-alive comments while an engine writes


class OpenAIError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, kind: str = "invalid_request_error",
                 code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.kind, self.code = status, message, param, kind, code

    def response(self) -> JSONResponse:
        return JSONResponse({"error": {"message": self.message, "type": self.kind, "param": self.param,
                                       "code": self.code}}, status_code=self.status)


def _text(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content
                        if isinstance(part, dict) and part.get("type") in ("text", "input_text"))
    return ""


def _key(text: str) -> str:
    return hashlib.sha1(" ".join(text.split()).encode("utf-8")).hexdigest()


def read_request(body: Any) -> tuple[str, str | None, list[str], str | None, bool]:
    """``(question, model, history, last assistant text, stream)`` from a chat completion request, or an
    ``OpenAIError`` saying what is wrong with it."""
    if not isinstance(body, dict):
        raise OpenAIError(400, "the request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise OpenAIError(400, "messages must be a non-empty list of {role, content} objects", "messages")
    if len(messages) > MAX_MESSAGES:
        raise OpenAIError(400, f"at most {MAX_MESSAGES} messages", "messages")
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise OpenAIError(400, "each message needs a role and content", "messages")
    last = messages[-1]
    if last["role"] != "user":
        raise OpenAIError(400, "the last message must be the user's question", "messages")
    question = " ".join(_text(last.get("content")).split())
    if not question:
        raise OpenAIError(400, "the last user message has no text", "messages")
    if len(question) > MAX_QUERY_CHARS:
        raise OpenAIError(400, f"the question is {len(question)} characters long; keep it under {MAX_QUERY_CHARS}",
                          "messages")
    history = [" ".join(_text(m.get("content")).split())[:MAX_QUERY_CHARS] for m in messages[:-1]
               if m["role"] == "user"][-MAX_HISTORY_TURNS:]
    replies = [_text(m.get("content")) for m in messages[:-1] if m["role"] == "assistant"]
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise OpenAIError(400, "model must be a string", "model")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise OpenAIError(400, "stream must be true or false", "stream")
    return question, model, [h for h in history if h], replies[-1] if replies else None, stream


def add_openai_routes(app: FastAPI, answerer_for: Callable[[str | None], Answerer], engines: Iterable[str],
                      default: str) -> None:
    """Add ``/v1/models`` and ``/v1/chat/completions`` to ``app``; ``answerer_for(engine)`` is the server's own
    (it refuses engines the operator did not enable)."""
    enabled = sorted(set(engines) | {default})
    remembered: OrderedDict[str, Answer] = OrderedDict()

    def remember(text: str, answer: Answer) -> None:
        remembered[_key(text)] = answer
        while len(remembered) > REMEMBERED:
            remembered.popitem(last=False)

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "checkpoint-qa"}
                                           for name in enabled]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        try:
            try:
                body = await request.json()
            except (ValueError, UnicodeDecodeError):
                raise OpenAIError(400, "the request body is not valid JSON") from None
            question, model, history, reply, stream = read_request(body)
            engine = default if model in (None, "", "checkpoint-qa") else model
            if engine not in enabled:
                raise OpenAIError(404, f"the model {model!r} does not exist here; models: {', '.join(enabled)}",
                                  "model", code="model_not_found")
            answerer = answerer_for(engine)
        except OpenAIError as exc:
            return exc.response()
        except HTTPException as exc:  # the server's own refusal (an engine that cannot load here)
            return OpenAIError(exc.status_code, str(exc.detail), "model").response()
        previous = remembered.get(_key(reply)) if reply else None
        ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if not stream:
            try:
                answer = await run_in_threadpool(answerer.answer, question, history, None, previous)
            except AssistantError as exc:
                return OpenAIError(400, str(exc)).response()
            text = plain_answer(answer).rstrip("\n")
            remember(text, answer)
            return {"id": ident, "object": "chat.completion", "created": created, "model": engine,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop", "logprobs": None}],
                    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                    "citations": [c.to_dict() for c in answer.sources]}

        def chunk(delta: dict, finish: str | None = None, **extra) -> str:
            return "data: " + json.dumps({"id": ident, "object": "chat.completion.chunk", "created": created,
                                          "model": engine, "choices": [{"index": 0, "delta": delta,
                                                                        "finish_reason": finish}], **extra}) + "\n\n"

        def events():
            yield chunk({"role": "assistant", "content": ""})
            beat = time.monotonic()
            try:
                for _, final in answerer.stream(question, history, previous=previous):
                    if final is None:
                        if time.monotonic() - beat > HEARTBEAT_S:  # the engine is writing: keep proxies waiting
                            beat = time.monotonic()
                            yield ": writing\n\n"
                        continue
                    text = plain_answer(final).rstrip("\n")
                    for piece in re.split(r"(?<=\n\n)", text):  # paragraph by paragraph, joining back to the text
                        if piece:
                            yield chunk({"content": piece})
                    remember(text, final)
                    yield chunk({}, "stop", citations=[c.to_dict() for c in final.sources])
            except AssistantError as exc:
                yield "data: " + json.dumps({"error": {"message": str(exc), "type": "invalid_request_error",
                                                       "param": None, "code": None}}) + "\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")
