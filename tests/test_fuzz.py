"""Property-based tests for every reader: arbitrary bytes and structured-but-wrong records never raise anything but
the project's own error, and never change what the knowledge base already holds (issue 16).

``make test`` runs a bounded number of examples; ``make fuzz`` (``HYPOTHESIS_PROFILE=long``) runs many more.
"""

import gzip
import json
import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.corpus.detect import FORMATS, read_items
from assistant.corpus.jsonl import KNOWN_FIELDS
from assistant.corpus.records import Deletion, Rejected
from assistant.errors import AssistantError
from assistant.ingest import apply_changes
from assistant.types import Record
from sample_files import jats_article, write_article_pdf

settings.register_profile("default", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("long", max_examples=2_000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = {"pubmed-xml": "pubmed_efetch.xml", "medline": "medline.nbib", "ris": "library.ris", "bibtex": "library.bib",
           "csv": "pubmed.csv"}
EXTENSIONS = {"pubmed-xml": ".xml", "medline": ".nbib", "ris": ".ris", "bibtex": ".bib", "csv": ".csv",
              "jsonl": ".jsonl", "jats": ".nxml", "pdf": ".pdf"}


def _sample(fmt: str, tmp_path: Path) -> bytes:
    """A real file of ``fmt``: a fixture, or one the tests write (JATS, PDF, gzipped PubMed XML)."""
    if fmt == "jats":
        return jats_article().encode()
    if fmt == "pdf":
        return write_article_pdf(tmp_path / "sample.pdf").read_bytes()
    if fmt == "pubmed-xml.gz":
        return gzip.compress((FIXTURES / SAMPLES["pubmed-xml"]).read_bytes())
    return (FIXTURES / SAMPLES[fmt]).read_bytes()
HELD = [Record("pmid:27433843", "title", "Mutations associated with acquired resistance to PD-1 blockade in melanoma",
               authors="Zaretsky JM", journal="N Engl J Med", year=2016, pmid="27433843",
               extra={"topics": ["B2M"]}, source_ids=("pmid:27433843",)),
        Record("pmid:26645196", "abstract", "A held paper", "Its abstract.", pmid="26645196",
               source_ids=("pmid:26645196",)),
        Record("doi:10.1000/held", "title", "Held by DOI", doi="10.1000/held", year=2019,
               source_ids=("doi:10.1000/held",))]


def _items(path: Path, fmt: str | None):
    """Every item of a file; only the project's own errors may escape."""
    try:
        items = list(read_items(path, fmt))
    except AssistantError:
        return []
    assert all(isinstance(i, (Record, Deletion, Rejected)) for i in items)
    return items


def _held_unchanged(incoming) -> None:
    """Ingesting ``incoming`` keeps every held record under its id with every value it had (curated values win;
    only empty fields may be filled)."""
    kept, _ = apply_changes(HELD, [i for i in incoming if isinstance(i, Record)])
    by_id = {r.id: r for r in kept}
    for before in HELD:
        after = by_id[before.id]
        for name in ("title", "authors", "journal", "year", "doi", "pmid"):
            assert getattr(before, name) in (None, "") or getattr(after, name) == getattr(before, name), name
        assert not before.text or after.text == before.text
        assert set(before.extra["topics"] if "topics" in before.extra else []) <= set(after.extra.get("topics", []))


def _mutate(data: bytes, rnd: random.Random) -> bytes:
    """A structured-but-wrong variant: slices deleted, duplicated or overwritten with junk."""
    data = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        i = rnd.randrange(len(data) + 1)
        j = min(len(data), i + rnd.randint(0, 200))
        what = rnd.choice(("delete", "duplicate", "junk", "identifier"))
        if what == "delete":
            del data[i:j]
        elif what == "duplicate":
            data[i:i] = data[i:j]
        elif what == "junk":
            data[i:j] = bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 40)))
        else:  # an identifier of a held record, or a hostile one, dropped into the text
            data[i:i] = rnd.choice([b"27433843", b"10.1000/held", b"javascript:alert(1)", b"\n\n", b"PMID- 26645196\n",
                                    b"<PMID>26645196</PMID>", b"@article{x,", b"TY  - JOUR\n", b"}"])
    return bytes(data)


@pytest.mark.parametrize("fmt", FORMATS)
@given(data=st.binary(max_size=4_000))
def test_arbitrary_bytes_give_records_or_rejections(tmp_path, fmt, data):
    path = tmp_path / f"fuzz{EXTENSIONS[fmt]}"
    path.write_bytes(data)
    _held_unchanged(_items(path, fmt))
    _items(path, None)


@pytest.mark.parametrize("fmt", sorted(SAMPLES) + ["jats", "pdf", "pubmed-xml.gz"])
@given(seed=st.integers(0, 2**32 - 1))
def test_mutated_real_files_give_records_or_rejections(tmp_path, fmt, seed):
    inner = fmt.removesuffix(".gz")
    path = tmp_path / f"mutated{EXTENSIONS[inner]}{'.gz' if fmt.endswith('.gz') else ''}"
    path.write_bytes(_mutate(_sample(fmt, tmp_path), random.Random(seed)))
    _held_unchanged(_items(path, inner))
    _items(path, None)


_values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=50),
                    st.lists(st.text(max_size=10), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                                                max_size=2))
_fields = st.sampled_from(sorted(KNOWN_FIELDS) + ["colour", ""])


@given(rows=st.lists(st.dictionaries(_fields, _values, max_size=8), max_size=5))
def test_structured_but_wrong_jsonl_records(tmp_path, rows):
    path = tmp_path / "wrong.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    _held_unchanged(_items(path, "jsonl"))


@given(rows=st.lists(st.fixed_dictionaries(
    {"id": st.sampled_from(["pmid:27433843", "doi:10.1000/held", "x", "pmid:26645196"]),
     "type": st.sampled_from(["abstract", "title", "reference_title"]),
     "title": st.sampled_from(["Mutations associated with acquired resistance to PD-1 blockade in melanoma",
                               "A held paper", "Held by DOI", "Other"]),
     "text": st.text(max_size=40), "authors": st.text(max_size=20), "year": st.integers(1900, 2100),
     "pmid": st.sampled_from([None, "27433843", "26645196", "1"]),
     "doi": st.sampled_from([None, "10.1000/held", "10.1000/other"])}), max_size=5))
def test_records_that_collide_with_held_ones_never_change_them(tmp_path, rows):
    path = tmp_path / "collide.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    _held_unchanged(_items(path, "jsonl"))
