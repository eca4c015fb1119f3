"""Every size limit of the project, in one place (the README's "Data safety" table is this module).

Each limit is enforced where the bytes are actually read, not on what a header or a file name claims: file sizes on
the bytes read from disk (or out of a decompressor), request bodies on the bytes received (chunked ones too).
Text longer than a passage is split into bounded passages; a record's text beyond ``MAX_TEXT_CHARS`` is cut at a
word boundary and the ingest report says so. Numbers must be finite.
"""

from __future__ import annotations

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30

# Records
MAX_TITLE_CHARS = 2_000
MAX_TEXT_CHARS = 5_000_000       # about 50 long full-text articles; longer text is cut and reported
MAX_FIELD_CHARS = 100_000        # authors, journal and any other single field
MAX_SENTENCE_CHARS = 1_000       # a "sentence" without breaks is cut into pieces of at most this
MAX_PASSAGE_CHARS = 4_000        # what one passage (and so one search hit or quote window) can hold
MAX_RECORDS_PER_FILE = 2_000_000

# Files, by format (bytes read; for .gz the decompressed bytes)
MAX_FILE_BYTES = {
    "pubmed-xml": 2 * GIB,       # a PubMed baseline file is 0.1-0.5 GB unpacked
    "jats": 256 * MIB,           # one article is 0.05-2 MB; a <pmc-articleset> may hold many
    "pdf": 256 * MIB,            # pypdf reads the whole file
    "jsonl": 2 * GIB,
    "medline": 512 * MIB,
    "csv": 512 * MIB,
    "ris": 256 * MIB,            # rispy and bibtexparser hold the whole file in memory
    "bibtex": 256 * MIB,
}

# Requests (HTTP API, MCP, chat)
MAX_BODY_BYTES = 64 * KIB
MAX_QUERY_CHARS = 2_000
MAX_K = 100                      # papers a request (HTTP, MCP) may ask for
MAX_LIBRARY_K = 1_000            # papers a library call or the CLI may ask for
MAX_HISTORY_TURNS = 20
MAX_FILTER_VALUES = 50           # entries in one filter list (journals, MeSH terms, publication types)
MAX_FILTER_VALUE_CHARS = 200
MIN_SCORE_RANGE = (0.0, 1.0)     # the refusal threshold is a cosine-like score
UI_MIN_SCORE = 0.2               # the chat's lowest threshold: every off-topic test question (best 0.16) is refused

# Login
MAX_FAILED_LOGINS = 5            # per user name, within LOGIN_WINDOW_S
LOGIN_WINDOW_S = 300

