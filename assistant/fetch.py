"""Build or extend a knowledge base from a PubMed query through NCBI E-utilities.

ESearch runs once with ``usehistory=y``; EFetch then pages through the result on the server's history in batches,
and each batch is saved as PubMed XML in a cache folder (written beside, then renamed), so an interrupted download
resumes where it stopped. Requests keep to NCBI's limits (3 a second, 10 with ``NCBI_API_KEY``) and identify the
tool and ``NCBI_EMAIL``; answers 429 and 5xx are retried with exponential backoff (``Retry-After`` honoured), while
a machine without a network fails at once with a message that points to offline ingestion. The saved XML goes
through the same ingester as exported files.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen
from xml.etree import ElementTree as ET

from . import __version__
from .errors import AssistantError

EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
RETRY_STATUS = {429, 500, 502, 503, 504}
SEARCH_TTL_S = 3600
OFFLINE_HINT = ("fetch needs the internet; on an offline machine export the records from PubMed and run: "
                "checkpoint-qa ingest FILE")


@dataclass(frozen=True)
class SearchResult:
    count: int
    webenv: str
    query_key: str


def parse_esearch(body: bytes) -> SearchResult:
    """ESearch answers in JSON (``retmode=json``) or XML; both are read."""
    text = body.lstrip()
    try:
        if text.startswith(b"{"):
            data = json.loads(text)["esearchresult"]
            if "ERROR" in data:
                raise AssistantError(f"PubMed rejected the query: {data['ERROR']}")
            return SearchResult(int(data["count"]), data["webenv"], str(data["querykey"]))
        root = ET.fromstring(text)
        error = root.findtext("ERROR")
        if error:
            raise AssistantError(f"PubMed rejected the query: {error}")
        return SearchResult(int(root.findtext("Count")), root.findtext("WebEnv"), root.findtext("QueryKey"))
    except (KeyError, ValueError, TypeError, ET.ParseError):
        raise AssistantError("E-utilities sent an ESearch answer that cannot be read; try again later") from None


class EUtilsClient:
    """A small, polite E-utilities client: rate limit, retries with backoff, clear errors."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, email: str | None = None,
                 retries: int = 5, backoff_s: float = 1.0, timeout_s: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        self.base_url = (base_url or EUTILS_URL).rstrip("/") + "/"
        self.api_key = api_key if api_key is not None else os.environ.get("NCBI_API_KEY") or None
        self.email = email if email is not None else os.environ.get("NCBI_EMAIL") or None
        self.interval_s = 1 / 10 if self.api_key else 1 / 3
        self.retries, self.backoff_s, self.timeout_s = retries, backoff_s, timeout_s
        self.sleep, self.clock = sleep, clock
        self._last = None
        self.requests = 0

    def _wait_turn(self) -> None:
        if self._last is not None:
            wait = self._last + self.interval_s - self.clock()
            if wait > 0:
                self.sleep(wait)
        self._last = self.clock()

    def get(self, endpoint: str, params: dict) -> bytes:
        query = {**params, "tool": "checkpoint-qa"}
        if self.email:
            query["email"] = self.email
        if self.api_key:
            query["api_key"] = self.api_key
        url = self.base_url + endpoint
        request = Request(url, data=urlencode(query).encode(), headers={
            "User-Agent": f"checkpoint-qa/{__version__}", "Content-Type": "application/x-www-form-urlencoded"})
        for attempt in range(self.retries + 1):
            self._wait_turn()
            self.requests += 1
            try:
                with urlopen(request, timeout=self.timeout_s) as response:
                    return response.read()
            except HTTPError as exc:
                if exc.code not in RETRY_STATUS or attempt == self.retries:
                    raise AssistantError(f"E-utilities answered HTTP {exc.code} to {endpoint} after {attempt + 1} "
                                         f"attempt(s); check the query, NCBI_API_KEY, or try again later") from None
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                delay = float(retry_after) if retry_after and retry_after.isdigit() else self.backoff_s * 2 ** attempt
            except (TimeoutError, socket.timeout):
                if attempt == self.retries:
                    raise AssistantError(f"E-utilities did not answer {endpoint} in {self.timeout_s:.0f} s; try "
                                         "again later") from None
                delay = self.backoff_s * 2 ** attempt
            except URLError as exc:
                if isinstance(exc.reason, (TimeoutError, socket.timeout)) and attempt < self.retries:
                    delay = self.backoff_s * 2 ** attempt
                else:
                    raise AssistantError(f"cannot reach NCBI E-utilities at {self.base_url} ({exc.reason}); "
                                         f"{OFFLINE_HINT}") from None
            self.sleep(delay)
        raise AssertionError("unreachable")

    def esearch(self, term: str, since: str | None = None) -> SearchResult:
        params = {"db": "pubmed", "term": term, "usehistory": "y", "retmax": 0, "retmode": "json"}
        if since:
            params.update({"datetype": "edat", "mindate": since, "maxdate": "3000"})
        return parse_esearch(self.get("esearch.fcgi", params))

    def esearch_ids(self, term: str, retmax: int = 5) -> tuple[int, list[str]]:
        """``(count, PMIDs)`` for ``term`` without the history server: for looking up one paper."""
        body = self.get("esearch.fcgi", {"db": "pubmed", "term": term, "retmax": retmax, "retmode": "json"})
        try:
            data = json.loads(body)["esearchresult"]
            return int(data["count"]), [str(i) for i in data.get("idlist", [])]
        except (KeyError, ValueError, TypeError):
            raise AssistantError("E-utilities sent an ESearch answer that cannot be read; try again later") from None

    def efetch_ids(self, pmids: list[str]) -> bytes:
        """PubMed XML for these PMIDs (at most 200 a call)."""
        return self.get("efetch.fcgi", {"db": "pubmed", "id": ",".join(pmids), "retmode": "xml"})

    def efetch(self, search: SearchResult, start: int, count: int) -> bytes:
        return self.get("efetch.fcgi", {"db": "pubmed", "WebEnv": search.webenv, "query_key": search.query_key,
                                        "retstart": start, "retmax": count, "retmode": "xml"})


def reachable(base_url: str | None = None, timeout_s: float = 2.0) -> bool:
    """Whether E-utilities' host accepts a connection now (no request is sent): for offering online actions."""
    from urllib.parse import urlsplit
    parts = urlsplit(base_url or EUTILS_URL)
    try:
        with socket.create_connection((parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)),
                                      timeout=timeout_s):
            return True
    except OSError:
        return False


def normalise_since(since: str | None) -> str | None:
    if not since:
        return None
    try:
        return date.fromisoformat(since.replace("/", "-")).strftime("%Y/%m/%d")
    except ValueError:
        raise AssistantError(f"--since {since!r} is not a date; use YYYY-MM-DD") from None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def download(client: EUtilsClient, query: str, cache_dir: Path, max_records: int = 500,
             since: str | None = None, batch_size: int = 200, progress: bool = False) -> list[Path]:
    """Fetch up to ``max_records`` PubMed XML records for ``query`` into ``cache_dir``; returns the batch files.

    Batches already in the cache are not fetched again, so a second run after an interruption resumes.
    """
    if not query.strip():
        raise AssistantError("the query is empty; pass --query 'TERMS'")
    since = normalise_since(since)
    key = hashlib.sha1(f"{query}|{since}|{max_records}|{batch_size}".encode()).hexdigest()[:16]
    folder = Path(cache_dir) / key
    folder.mkdir(parents=True, exist_ok=True)
    saved = folder / "search.json"
    search = None
    if saved.is_file() and time.time() - saved.stat().st_mtime < SEARCH_TTL_S:
        search = SearchResult(**json.loads(saved.read_text()))
    if search is None:
        search = client.esearch(query, since)
        _write_atomic(saved, json.dumps(search.__dict__).encode())
    total = min(search.count, max_records)
    starts = range(0, total, batch_size)
    if progress:
        from tqdm import tqdm
        starts = tqdm(starts, desc="fetching", unit="batch", leave=False)
    paths = []
    for start in starts:
        path = folder / f"batch-{start:07d}.xml"
        if not path.is_file():
            data = client.efetch(search, start, min(batch_size, total - start))
            if b"<PubmedArticleSet" not in data[:2000]:
                raise AssistantError(f"E-utilities sent something other than PubMed XML for records {start}-"
                                     f"{start + batch_size}; try again later")
            _write_atomic(path, data)
        paths.append(path)
    return paths
