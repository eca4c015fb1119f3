"""Adapters for the frameworks people build with: ``langchain`` (a ``langchain-core`` retriever) and
``llamaindex`` (a ``llama-index-core`` retriever). Each imports its framework when it is imported, and nothing else
in the package imports them, so neither framework is needed unless it is used. Both return what
``Retriever.search`` returns, one document or node per paper, described by ``hit_metadata``."""

from __future__ import annotations

from typing import Any, Mapping

from ..types import Hit


def hit_metadata(hit: Hit) -> dict[str, Any]:
    """A hit's paper and match as plain values: the bibliographic fields (``url`` is the PubMed, PMC or DOI link),
    the rank and scores, where in the paper the passage lies, and the passage's sentences that match the query."""
    row = hit.to_dict()
    row.pop("text", None)
    row["source"] = hit.record.link
    row["record_id"] = hit.record.id
    return row


def as_filters(filters):
    """``Filters`` from a ``Filters`` or a mapping of its fields (``{"year_min": 2018}``), or ``None``."""
    from dataclasses import fields

    from ..errors import AssistantError
    from ..retriever import Filters
    if filters is None or isinstance(filters, Filters):
        return filters
    names = [f.name for f in fields(Filters)]
    if not isinstance(filters, Mapping):
        raise AssistantError(f"filters must be a Filters or a mapping of {', '.join(names)}; got "
                             f"{type(filters).__name__}")
    unknown = sorted(set(filters) - set(names))
    if unknown:
        raise AssistantError(f"unknown filter {unknown[0]!r}; use: {', '.join(names)}")
    return Filters(**{k: tuple(v) if isinstance(v, (list, set, tuple)) else (v,) if isinstance(v, str)
                      and k not in ("year_min", "year_max") else v for k, v in filters.items()})
