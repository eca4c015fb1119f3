"""The HTTP API (FastAPI), a thin layer over the same library calls as the CLI and the chat.

``create_api(answerer)`` builds the app without serving it, so tests drive it in-process. Requests are validated
by pydantic models with clear 4xx answers (limits on query length, ``k`` and body size); ``/ask`` streams
server-sent events on request. The interactive docs page is off because it loads scripts from a CDN; the OpenAPI
schema is at ``/openapi.json``.
"""

from __future__ import annotations

import json
from typing import Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from . import __version__
from .answer import Answerer
from .errors import AssistantError, ModelError
from .retriever import MAX_QUERY_CHARS, Filters
from .store import describe

MAX_BODY_BYTES = 64 * 1024
MAX_K = 100


class FilterModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    year_min: int | None = Field(None, ge=1800, le=2200)
    year_max: int | None = Field(None, ge=1800, le=2200)
    types: list[Literal["abstract", "reference_title", "title"]] = []
    publication_types: list[str] = []
    journals: list[str] = []
    mesh: list[str] = []

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
    engine: Literal["extractive", "local", "openai"] | None = None
    stream: bool = False
    history: list[str] = Field(default_factory=list, max_length=20)
    filters: FilterModel = FilterModel()

    _check_question = field_validator("question")(_not_blank)


def create_api(answerer: Answerer) -> FastAPI:
    retriever = answerer.retriever
    app = FastAPI(title="Checkpoint QA", version=__version__, docs_url=None, redoc_url=None,
                  description="Cited answers and literature search on checkpoint-inhibitor resistance.")
    answerers: dict[str, Answerer] = {answerer.engine.name: answerer}

    def answerer_for(engine: str | None) -> Answerer:
        name = engine or answerer.settings.engine
        if name not in answerers:
            from dataclasses import replace
            try:
                answerers[name] = Answerer(retriever, replace(answerer.settings, engine=name))
            except ModelError as exc:
                raise HTTPException(400, str(exc)) from None
        return answerers[name]

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse({"detail": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(AssistantError)
    async def assistant_error(request: Request, exc: AssistantError):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.get("/health")
    def health() -> dict:
        facts = describe(retriever.kb)
        return {"status": "ok", "version": __version__, "records": facts["records"], "passages": facts["passages"],
                "model": facts["model"], "engine": answerer.settings.engine}

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
                        yield f"event: delta\ndata: {json.dumps({'text': delta})}\n\n"
                    else:
                        yield f"event: answer\ndata: {json.dumps(final.to_dict())}\n\n"
            except AssistantError as exc:
                yield f"event: error\ndata: {json.dumps({'detail': str(exc)})}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/records/{record_id:path}")
    def record(record_id: str) -> dict:
        found = retriever.kb.by_id.get(record_id)
        if found is None:
            raise HTTPException(404, f"no record {record_id!r}; search to find record ids")
        return found.to_dict()

    return app


def serve(settings) -> None:
    import uvicorn

    from .retriever import Retriever
    answerer = Answerer(Retriever.load(settings=settings), settings)
    warm(answerer)
    print(f"Checkpoint QA API: http://{settings.host}:{settings.port} (schema at /openapi.json)", flush=True)
    uvicorn.run(create_api(answerer), host=settings.host, port=settings.port, log_level="warning")


def warm(answerer: Answerer) -> None:
    """Load the model and both indexes before the first request (and before threads race to do it)."""
    retriever = answerer.retriever
    retriever.search("warm up", k=1)
