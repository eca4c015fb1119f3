"""The HTTP API (FastAPI), a thin layer over the same library calls as the CLI and the chat.

``create_api(answerer)`` builds the app without serving it, so tests drive it in-process. Requests are validated
by pydantic models with clear 4xx answers (the limits are ``limits``); the body limit counts the bytes actually
received, chunked or not, and stops reading at the limit; validation errors never echo the input back (it may be
megabytes, or NaN, which JSON cannot carry). Which engines may answer is the operator's choice (``engines``), never
the request's: a client cannot make the server load a model. The server follows its knowledge base: after an
ingest into its folder it switches to the new version (``Retriever.follow``) and ``/health`` names it.
``/ask`` streams server-sent events on request; ``/v1/models`` and ``/v1/chat/completions`` speak the OpenAI chat
API (``openai_api``). The interactive docs page is off because it loads scripts from a CDN; the OpenAPI
schema is at ``/openapi.json``.
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Iterable, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from . import __version__
from .answer import Answerer
from .errors import AssistantError, ModelError
from .limits import (MAX_BODY_BYTES, MAX_FILTER_VALUE_CHARS, MAX_FILTER_VALUES, MAX_HISTORY_TURNS, MAX_K,
                     MAX_QUERY_CHARS)
from .retriever import Filters
from .kb.store import describe
from .openai_api import add_openai_routes

FilterValue = Annotated[str, StringConstraints(max_length=MAX_FILTER_VALUE_CHARS)]
HistoryTurn = Annotated[str, StringConstraints(max_length=MAX_QUERY_CHARS)]


class FilterModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    year_min: int | None = Field(None, ge=1800, le=2200)
    year_max: int | None = Field(None, ge=1800, le=2200)
    types: list[Literal["full_text", "abstract", "reference_title", "title"]] = Field([], max_length=4)
    publication_types: list[FilterValue] = Field([], max_length=MAX_FILTER_VALUES)
    journals: list[FilterValue] = Field([], max_length=MAX_FILTER_VALUES)
    mesh: list[FilterValue] = Field([], max_length=MAX_FILTER_VALUES)

    def to_filters(self) -> Filters:
        return Filters(self.year_min, self.year_max, tuple(self.types), tuple(self.publication_types),
                       tuple(self.journals), tuple(self.mesh))


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS)
    k: int = Field(8, ge=1, le=MAX_K)
    filters: FilterModel = FilterModel()
    mode: Literal["hybrid", "dense", "sparse"] | None = None

    _check_query = field_validator("query")(_not_blank)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS)
    engine: str | None = Field(None, max_length=200)
    stream: bool = False
    history: list[HistoryTurn] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS)
    filters: FilterModel = FilterModel()

    _check_question = field_validator("question")(_not_blank)

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str | None) -> str | None:
        from .config import valid_engine
        if value is not None and not valid_engine(value):
            raise ValueError(f"unknown engine {value!r}; see checkpoint-qa engines")
        return value


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets 413, counted on the bytes received (a
    ``Content-Length`` over the limit is refused before reading); reading stops at the limit."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            return await self._refuse(send)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.limit:
                return await self._refuse(send)
            more = message.get("more_body", False)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send) -> None:
        await JSONResponse({"detail": f"request body over {self.limit} bytes"}, status_code=413)(
            {"type": "http"}, None, send)


def create_api(answerer: Answerer, engines: Iterable[str] | None = None) -> FastAPI:
    """The app; ``engines`` lists the engines requests may choose (default: only the configured one)."""
    retriever = answerer.retriever
    app = FastAPI(title="Checkpoint QA", version=__version__, docs_url=None, redoc_url=None,
                  description="Cited answers and literature search on checkpoint-inhibitor resistance.")
    app.add_middleware(BodyLimit)
    answerers: dict[str, Answerer] = {answerer.engine.name: answerer}
    allowed = set(engines or ()) | {answerer.engine.name}

    def answerer_for(engine: str | None) -> Answerer:
        name = engine or answerer.engine.name
        if name not in allowed:
            raise HTTPException(403, f"engine {name!r} is not enabled on this server (enabled: "
                                     f"{', '.join(sorted(allowed))}); its operator chooses with serve --engines")
        if name not in answerers:
            from dataclasses import replace
            try:
                answerers[name] = Answerer(retriever, replace(answerer.settings, engine=name))
            except ModelError as exc:
                raise HTTPException(400, str(exc)) from None
        return answerers[name]

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                    for e in exc.errors()[:20]]
        return JSONResponse({"detail": problems}, status_code=422)

    @app.exception_handler(AssistantError)
    async def assistant_error(request: Request, exc: AssistantError):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.get("/health")
    def health() -> dict:
        kb = retriever.kb
        facts = describe(kb)
        return {"status": "ok", "version": __version__, "knowledge_base": kb.version,
                "built_at": facts["built_at"], "records": facts["records"], "passages": facts["passages"],
                "model": facts["model"], "engine": answerer.engine.name, "engines": sorted(allowed)}

    @app.post("/search")
    def search(body: SearchRequest) -> dict:
        hits = retriever.search(body.query, body.k, body.filters.to_filters(), mode=body.mode)
        return {"hits": [h.to_dict() for h in hits]}

    @app.post("/ask")
    def ask(body: AskRequest):
        chosen = answerer_for(body.engine)
        filters = body.filters.to_filters()
        if not body.stream:
            return chosen.answer(body.question, body.history, filters).to_dict()

        def events():
            sent = ""
            try:
                for text, final in chosen.stream(body.question, body.history, filters):
                    if final is None:
                        delta, sent = (text[len(sent):], text) if text.startswith(sent) else (text, text)
                        if delta:
                            yield f"event: delta\ndata: {json.dumps({'text': delta})}\n\n"
                    else:
                        yield f"event: answer\ndata: {json.dumps(final.to_dict())}\n\n"
            except AssistantError as exc:
                yield f"event: error\ndata: {json.dumps({'detail': str(exc)})}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    add_openai_routes(app, answerer_for, allowed, answerer.engine.name)

    @app.get("/records/{record_id:path}")
    def record(record_id: str) -> dict:
        found = retriever.kb.find(record_id)
        if found is None:
            raise HTTPException(404, f"no record {record_id[:200]!r}; search to find record ids")
        return found.to_dict()

    return app


WORKER_ENGINES = "CQA_SERVE_ENGINES"  # how `serve --workers` hands the enabled engines to its worker processes


def _answering_app(settings, engines: Iterable[str]) -> FastAPI:
    from .retriever import Retriever
    retriever = Retriever.load(settings=settings)
    answerer = Answerer(retriever, settings)
    warm(answerer)
    retriever.follow()  # each process picks up a new version when CURRENT changes, without a restart
    return create_api(answerer, engines)


def worker_app() -> FastAPI:
    """The app of one ``serve --workers`` process: settings from the environment the parent set."""
    from .config import load_settings
    engines = [e for e in os.environ.get(WORKER_ENGINES, "").split(",") if e]
    return _answering_app(load_settings(), engines)


def serve(settings, engines: Iterable[str] = (), workers: int = 1) -> None:
    """Serve the API; with ``workers`` > 1, that many processes share the port, each with the knowledge base's
    vectors memory-mapped (the operating system keeps one copy in memory for all of them)."""
    import uvicorn
    print(f"Checkpoint QA API: http://{settings.host}:{settings.port} (schema at /openapi.json)"
          + (f", {workers} worker processes" if workers > 1 else ""), flush=True)
    if workers <= 1:
        uvicorn.run(_answering_app(settings, engines), host=settings.host, port=settings.port, log_level="warning")
        return
    os.environ.update({"CHECKPOINT_QA_INDEX": str(settings.index_dir), WORKER_ENGINES: ",".join(engines)})
    if settings.model:
        os.environ["CHECKPOINT_QA_MODEL"] = settings.model
    uvicorn.run("assistant.server:worker_app", factory=True, workers=workers, host=settings.host,
                port=settings.port, log_level="warning")


def warm(answerer: Answerer) -> None:
    """Load the model and both indexes before the first request (and before threads race to do it)."""
    retriever = answerer.retriever
    retriever.search("warm up", k=1)
