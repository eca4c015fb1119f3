"""Conversations as plain JSON, so the web chat can keep them in the browser and bring them back after a reload.

A saved conversation holds what the page showed (the chat messages) and, per answer, only what identifies its
evidence: the question, the searched query, the answer text and each cited record's id with the quotes behind it.
Records are looked up again in the knowledge base when a conversation is opened, so a saved conversation never
carries a stale copy of a paper; a record removed since is dropped from the restored answer. Storage lives in the
browser (each person's own), never on the server, and is capped at ``MAX_SAVED`` conversations.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Sequence

from .kb.store import KnowledgeBase
from .types import Answer, Citation

MAX_SAVED = 30


def message_text(content: Any) -> str:
    """The text of a chat message as Gradio hands it over (a string, or a list of ``{"type": "text"}`` parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        return " ".join(message_text(part) for part in content)
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    return ""


def plain_messages(messages: Sequence[dict]) -> list[dict]:
    """Chat messages reduced to ``{"role", "content"}`` strings (what is stored and restored)."""
    return [{"role": m.get("role", "user"), "content": message_text(m.get("content"))} for m in messages or []]


def questions_of(messages: Sequence[dict]) -> list[str]:
    return [message_text(m.get("content")) for m in messages or [] if m.get("role") == "user"]


def answer_summary(answer: Answer | None) -> dict:
    """What an answer needs to come back: its text and which record (and which quotes) each number points at."""
    if answer is None:
        return {}
    return {"question": answer.question, "query": answer.query, "text": answer.text, "refused": answer.refused,
            "scope": answer.scope, "bottom_line": list(answer.bottom_line), "findings": list(answer.findings),
            "refs": [{"n": c.n, "id": c.record.id, "quote": c.quote, "quotes": list(c.all_quotes),
                      "evidence": c.evidence} for c in answer.sources]}


def restore_answer(kb: KnowledgeBase, saved: dict) -> Answer | None:
    """An ``Answer`` rebuilt from ``answer_summary`` with the knowledge base's current records (no retrieval
    scores: those belonged to the search that made it)."""
    if not saved:
        return None
    cited, related = [], []
    for ref in saved.get("refs", ()):
        record = kb.by_id.get(ref.get("id"))
        if record is None:
            continue
        c = Citation(int(ref["n"]), record, ref.get("quote", ""), ref.get("evidence", "abstract"),
                     quotes=tuple(ref.get("quotes", ())))
        (related if c.evidence == "title" else cited).append(c)
    return Answer(saved.get("question", ""), saved.get("text", ""), tuple(cited), bool(saved.get("refused")),
                  query=saved.get("query", ""), bottom_line=tuple(saved.get("bottom_line", ())),
                  findings=tuple(saved.get("findings", ())), related=tuple(related), scope=saved.get("scope", ""))


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def save(saved: Sequence[dict] | None, conversation_id: str, messages: Sequence[dict],
         answers: Sequence[Answer | None]) -> list[dict]:
    """``saved`` with this conversation stored (replaced if already there), newest first, at most ``MAX_SAVED``."""
    asked = questions_of(messages)
    others = [c for c in (saved or []) if isinstance(c, dict) and c.get("id") != conversation_id]
    if not asked:
        return others[:MAX_SAVED]
    entry = {"id": conversation_id, "title": asked[0][:80], "when": time.strftime("%Y-%m-%d %H:%M"),
             "messages": plain_messages(messages), "answers": [answer_summary(a) for a in answers]}
    return ([entry] + others)[:MAX_SAVED]


def choices(saved: Sequence[dict] | None) -> list[tuple[str, str]]:
    """The saved conversations as menu entries: "2026-12-01 20:49 · Does the gut microbiome ...", by id."""
    return [(f"{c.get('when', '')} · {c.get('title', '')}", c["id"]) for c in saved or []
            if isinstance(c, dict) and c.get("id")]


def find(saved: Sequence[dict] | None, conversation_id: str) -> dict | None:
    return next((c for c in saved or [] if isinstance(c, dict) and c.get("id") == conversation_id), None)
