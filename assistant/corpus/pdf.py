"""Text PDFs (a folder exported from Zotero, a publisher's download), read with pypdf.

pypdf is pure Python under a BSD licence, maintained, and needs no system library, so it installs everywhere the
rest of the project does; pdfminer.six gives finer layout but is several times slower, and PyMuPDF is AGPL.

Each page's text is cleaned before it becomes part of a record:

- running headers and footers (a line that recurs at the top or bottom of pages, digits ignored, so "Page 3" and
  "Page 4" count as one) and bare page numbers are removed;
- a word hyphenated across a line break is joined ("suppres-" + "sive"), while a hyphen before a capital or digit
  stays ("anti-" + "PD-1");
- everything from a "References" (or "Bibliography", "Literature cited") heading on is dropped;
- lines that are a known section heading ("Abstract", "2. Methods", "Results and discussion") start a new section.

A record's ``parts`` keep every stretch's section and page, so a quote can be cited as "Results, p. 4"; a sentence
that runs over a page break belongs to the page it starts on. The DOI is read from the first page (or the document
information), the title from the largest type on the first page (or its first line of words). A PDF without a text
layer (a scan) is rejected with a hint to run OCR first, never ingested empty.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Iterator

from ..errors import CorpusError
from .records import Item, Rejected, clean_doi, make_record
from .source import open_bytes

MIN_TEXT_CHARS = 200  # less than this in the whole document: a scan, or a cover page only
EDGE_LINES = 3        # how many lines at a page's top and bottom may be running headers or footers
HEADINGS = re.compile(
    r"^(\d+(\.\d+)*\.?\s+)?(abstract|summary|background|introduction|materials? and methods|methods|patients and "
    r"methods|study design|results|results and discussion|discussion|conclusions?|limitations|"
    r"figure legends|acknowledge?ments?|funding|conflicts? of interest|competing interests|author contributions|"
    r"data availability|abbreviations|supplementary (material|information)|references|bibliography|literature cited)"
    r"\s*:?$", re.I)
END_OF_TEXT = re.compile(r"references|bibliography|literature cited", re.I)
SKIPPED_SECTIONS = re.compile(r"acknowledge?ments?|funding|conflicts? of interest|competing interests|author "
                              r"contributions|data availability|abbreviations|supplementary", re.I)
PLACEHOLDER_TITLES = {"", "untitled", "title", "unknown", "microsoft word", "none"}
_LINK_LINE = re.compile(r"^\s*(doi:?\s*|https?://\S+|www\.\S+)\S*\s*$", re.I)
_PAGE_NUMBER = re.compile(r"^(page\s*)?[-–]?\s*\d{1,4}\s*[-–]?(\s*(of|/)\s*\d{1,4})?$", re.I)
_HYPHENATED = re.compile(r"(?<=[a-z])-$")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]?(\s|$)")


def _shape(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split()).lower())


def _running_lines(pages: list[list[str]]) -> set[str]:
    """Shapes of lines that recur at the top or bottom of at least two pages (and half of them)."""
    if len(pages) < 2:
        return set()
    seen: Counter[str] = Counter()
    for lines in pages:
        edges = {_shape(line) for line in lines[:EDGE_LINES] + lines[-EDGE_LINES:]}
        seen.update(edges)
    return {shape for shape, n in seen.items() if n >= max(2, len(pages) // 2) and shape.strip()}


def _join(lines: list[str]) -> str:
    """Lines as running text: hyphenation across line breaks undone, everything else joined by a space."""
    text = ""
    for line in lines:
        line = " ".join(line.split())
        if not line:
            continue
        if _HYPHENATED.search(text) and line[:1].islower():
            text = text[:-1] + line
        else:
            text = f"{text} {line}" if text else line
    return text


def _title_by_size(page) -> str:
    """The text set in the largest type on ``page``, when it is clearly larger than the body text."""
    sizes: list[tuple[float, str]] = []

    def visit(text, cm, tm, font, size):
        scale = abs(tm[3] * cm[3]) or abs(tm[0] * cm[0]) or 1.0
        if text.strip():
            sizes.append((round(size * scale, 1), text))

    try:
        page.extract_text(visitor_text=visit)
    except Exception:  # noqa: BLE001  (layout analysis is a nicety; the first-line rule still applies)
        return ""
    if not sizes:
        return ""
    body = Counter(s for s, t in sizes for _ in t.split()).most_common(1)[0][0]
    largest = max(s for s, _ in sizes)
    if largest < body * 1.15:
        return ""
    return " ".join(" ".join(t for s, t in sizes if s == largest).split())


def _title_by_line(lines: list[str]) -> str:
    for line in lines[:15]:
        words = line.split()
        if len(words) >= 3 and not HEADINGS.match(line) and not re.search(r"doi|https?://|www\.|©", line, re.I):
            return " ".join(words)
    return ""


def _parts(pages: list[list[str]]) -> tuple[str, list[dict]]:
    """Running text and its parts (section, page) from cleaned page lines."""
    chunks: list[tuple[str, int, list[str]]] = []  # (section, page, lines)
    section, skipping = "", False
    for number, lines in enumerate(pages, start=1):
        for line in lines:
            heading = HEADINGS.match(line.strip())
            if heading:
                name = heading.group(3)
                if END_OF_TEXT.fullmatch(name):
                    return _assemble(chunks)
                skipping = bool(SKIPPED_SECTIONS.match(name))
                section = name[:1].upper() + name[1:].lower()
                continue
            if skipping:
                continue
            if not chunks or chunks[-1][:2] != (section, number):
                chunks.append((section, number, []))
            chunks[-1][2].append(line)
    return _assemble(chunks)


def _assemble(chunks: list[tuple[str, int, list[str]]]) -> tuple[str, list[dict]]:
    pieces = [[section, page, _join(lines)] for section, page, lines in chunks]
    for before, after in zip(pieces, pieces[1:]):  # a sentence running over a page break stays on its first page
        if before[0] == after[0] and before[2] and not _SENTENCE_END.search(before[2][-2:] + " "):
            end = _SENTENCE_END.search(after[2])
            cut = end.end() if end else len(after[2])
            head, after[2] = after[2][:cut].strip(), after[2][cut:].strip()
            before[2] = (before[2][:-1] + head if _HYPHENATED.search(before[2]) and head[:1].islower()
                         else f"{before[2]} {head}")
    text, parts = "", []
    for section, page, piece in pieces:
        if not piece:
            continue
        start = len(text) + (1 if text else 0)
        text = f"{text} {piece}" if text else piece
        parts.append({"start": start, "end": len(text), "section": section or "Main text", "page": page})
    return text, parts


def _metadata(reader) -> dict[str, str]:
    try:
        info = reader.metadata or {}
        return {k: str(info.get(k) or "").strip() for k in ("/Title", "/Author", "/doi", "/Subject")}
    except Exception:  # noqa: BLE001  (a damaged information dictionary is not a reason to lose the text)
        return {}


def pdf_record(data: bytes, name: str) -> Item:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            return Rejected(name, "the PDF is password-protected; save an unprotected copy and ingest that")
        pages = [(page.extract_text() or "").splitlines() for page in reader.pages]
    except PdfReadError as exc:
        return Rejected(name, f"cannot read this PDF ({exc}); is the file complete?")
    except Exception as exc:  # noqa: BLE001  (pypdf raises many kinds on damaged files; none may escape as a crash)
        return Rejected(name, f"cannot read this PDF ({type(exc).__name__}: {str(exc)[:120]}); is the file complete?")
    raw_chars = sum(len("".join(lines).strip()) for lines in pages)
    if raw_chars < MIN_TEXT_CHARS:
        return Rejected(name, f"the PDF has no text layer ({raw_chars} characters on {len(pages)} page(s)); it is "
                              "probably a scan: run OCR on it first (e.g. ocrmypdf) and ingest the result")
    running = _running_lines(pages)
    first_page = "\n".join(pages[0]) if pages else ""
    cleaned = [[line for line in lines if line.strip() and _shape(line) not in running
                and not _PAGE_NUMBER.match(line.strip()) and not _LINK_LINE.match(line)] for lines in pages]
    meta = _metadata(reader)
    doi = clean_doi(meta.get("/doi")) or clean_doi(first_page) or clean_doi(meta.get("/Subject"))
    title = meta.get("/Title", "")
    if title.lower().split(" - ")[0] in PLACEHOLDER_TITLES or title.lower().endswith((".doc", ".docx", ".pdf")):
        title = _title_by_size(reader.pages[0]) or _title_by_line(cleaned[0] if cleaned else [])
    if title:  # the title is not part of the text
        cleaned[0] = [line for line in cleaned[0] if " ".join(line.split()) not in title]
    text, parts = _parts(cleaned)
    if not text:
        return Rejected(name, "no body text left once headers, footers and the reference list were removed")
    author = meta.get("/Author", "")
    return make_record(name, title=title or Path(name).stem.replace("_", " "), text=text,
                       authors="" if author.lower() in ("anonymous", "unknown") else author, doi=doi,
                       page_count=len(pages), parts=parts)


def read_pdf(path: Path) -> Iterator[Item]:
    path = Path(path)
    try:
        with open_bytes(path, "pdf") as handle:
            data = handle.read()
    except CorpusError as exc:
        yield Rejected(path.name, str(exc).removeprefix(f"{path.name}: "))
        return
    yield pdf_record(data, path.name)
