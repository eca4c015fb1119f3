"""Ingestion benchmark: parse and embed N generated PubMed XML records, a gzipped baseline-size file, and a
folder of text PDFs.

Prints records/s for parsing alone, embedding alone (the baseline: the same passage texts through the same
encoder, measured in the same run) and the whole ingest, the share parsing adds to embedding time, and the
parser's peak memory at a quarter of the file and at the whole file (flat when streaming works).

``--gz N`` adds a gzipped PubMed baseline-style file of N records (PubMed's files hold 30,000) and ``--pdfs N`` a
folder of N generated six-page PDFs. For each, parsing alone and the whole ingest run in a fresh process, so their
peak resident memory (``ru_maxrss``) is theirs alone; the parse of a quarter of the gzipped file is measured the
same way, to show that memory does not grow with the file.

    .venv/bin/python benchmarks/ingest_bench.py --records 20000            # packaged MiniLM (slow on 2 cores)
    .venv/bin/python benchmarks/ingest_bench.py --records 20000 --model hash:384
    .venv/bin/python benchmarks/ingest_bench.py --records 0 --gz 30000 --pdfs 100 --model hash:384
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the test-file writers

from assistant.corpus.detect import read_items  # noqa: E402
from assistant.encoders import encode_in_batches, get_encoder  # noqa: E402
from assistant.ingest import ingest  # noqa: E402
from assistant.kb.passages import split_records  # noqa: E402
from assistant.types import Record  # noqa: E402
from sample_files import write_large_baseline  # noqa: E402

WORDS = ("tumour T cell PD-1 PD-L1 CTLA-4 blockade resistance interferon JAK1 JAK2 B2M antigen melanoma lung "
         "microbiome exhaustion macrophage regulatory response survival mutation signalling expression").split()


def write_pubmed_xml(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" ?>\n<PubmedArticleSet>\n')
        for i in range(n):
            sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 24))).capitalize() + "."
                         for _ in range(rng.randint(3, 6))]
            labels = ("BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS")
            abstract = "".join(f'<AbstractText Label="{labels[j % 4]}">{s}</AbstractText>'
                               for j, s in enumerate(sentences))
            out.write(
                f"<PubmedArticle><MedlineCitation><PMID>{40000000 + i}</PMID><Article><Journal><JournalIssue>"
                f"<PubDate><Year>{2010 + i % 15}</Year></PubDate></JournalIssue><ISOAbbreviation>J Test"
                f"</ISOAbbreviation></Journal><ArticleTitle>Generated study {i} of "
                f"{' '.join(rng.choice(WORDS) for _ in range(6))}</ArticleTitle><Abstract>{abstract}</Abstract>"
                f"<AuthorList><Author><LastName>Author{i}</LastName><Initials>A</Initials></Author></AuthorList>"
                f"<PublicationTypeList><PublicationType>Journal Article</PublicationType></PublicationTypeList>"
                f"</Article><MeshHeadingList><MeshHeading><DescriptorName>Neoplasms</DescriptorName></MeshHeading>"
                f"</MeshHeadingList></MedlineCitation><PubmedData><ArticleIdList><ArticleId IdType=\"doi\">"
                f"10.9999/gen.{i}</ArticleId></ArticleIdList></PubmedData></PubmedArticle>\n")
        out.write("</PubmedArticleSet>\n")


def parse_all(path: Path) -> list[Record]:
    return [item for item in read_items(path) if isinstance(item, Record)]


def parser_peak_bytes(path: Path) -> int:
    tracemalloc.start()
    count = sum(1 for _ in read_items(path))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count
    return peak


def write_pdfs(folder: Path, n: int, seed: int = 0) -> None:
    """``n`` six-page text PDFs with a running header, page footers, hyphenated line breaks and references."""
    from sample_files import write_pdf
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pages = []
        for page in range(6):
            lines = ["Results"] if page == 2 else ["Introduction"] if page == 0 else []
            for _ in range(40):
                words = [rng.choice(WORDS) for _ in range(rng.randint(9, 13))]
                lines.append(" ".join(words).capitalize() + rng.choice(["", ".", " resis-", " inter-"]))
            if page == 5:
                lines += ["References"] + [f"{r}. A cited paper {r}. J Test. 2020;1:{r}." for r in range(1, 15)]
            pages.append(lines)
        write_pdf(folder / f"paper-{i:04d}.pdf", pages, header=f"Journal of Benchmarks {2020 + i % 5}",
                  footer="Page", first_page_doi=f"10.9999/bench.{i}")


def _phase(kind: str, path: Path, model: str, index: Path | None = None) -> dict:
    """Run one measured phase in a fresh Python process; returns its seconds, count and peak RSS."""
    command = [sys.executable, __file__, "--phase", kind, "--input", str(path), "--model", model]
    if index is not None:
        command += ["--index", str(index)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_phase(kind: str, path: Path, model: str, index: str | None) -> None:
    started = time.perf_counter()
    if kind == "parse":
        files = sorted(path.iterdir()) if path.is_dir() else [path]
        count = sum(1 for f in files for item in read_items(f) if isinstance(item, Record))
    else:
        report = ingest([path], index=index, encoder=get_encoder(model))
        count = report.added
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({"count": count, "seconds": seconds, "peak_mb": round(peak, 1)}))


def distribution_files(args, tmp: Path) -> dict:
    """Parsing and ingest figures for a gzipped baseline file and a PDF folder, each phase in its own process."""
    out: dict = {}
    if args.gz:
        quarter, whole = tmp / "pubmed-quarter.xml.gz", tmp / "pubmed25n0001.xml.gz"
        write_large_baseline(quarter, max(1, args.gz // 4))
        write_large_baseline(whole, args.gz)
        small, parse, full = (_phase("parse", quarter, args.model), _phase("parse", whole, args.model),
                              _phase("ingest", whole, args.model, tmp / "kb-gz"))
        assert parse["count"] == full["count"] == args.gz, (parse, full)
        out.update({"gz_records": args.gz, "gz_file_mb": round(whole.stat().st_size / 1e6, 1),
                    "gz_parse_records_per_s": round(args.gz / parse["seconds"], 1),
                    "gz_parse_peak_mb_quarter_file": small["peak_mb"], "gz_parse_peak_mb_whole_file": parse["peak_mb"],
                    "gz_ingest_records_per_s": round(args.gz / full["seconds"], 1),
                    "gz_ingest_peak_mb": full["peak_mb"]})
    if args.pdfs:
        folder = tmp / "pdfs"
        write_pdfs(folder, args.pdfs)
        parse, full = _phase("parse", folder, args.model), _phase("ingest", folder, args.model, tmp / "kb-pdf")
        assert parse["count"] == full["count"] == args.pdfs, (parse, full)
        out.update({"pdfs": args.pdfs, "pdf_pages": args.pdfs * 6,
                    "pdf_parse_per_s": round(args.pdfs / parse["seconds"], 2),
                    "pdf_parse_pages_per_s": round(args.pdfs * 6 / parse["seconds"], 1),
                    "pdf_parse_peak_mb": parse["peak_mb"],
                    "pdf_ingest_per_s": round(args.pdfs / full["seconds"], 2), "pdf_ingest_peak_mb": full["peak_mb"]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--gz", type=int, default=0, help="records in a gzipped baseline-style file (0: skip)")
    parser.add_argument("--pdfs", type=int, default=0, help="generated PDFs in a folder (0: skip)")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--phase", choices=["parse", "ingest"], help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--index", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        run_phase(args.phase, args.input, args.model, args.index)
        return
    result = {"model": args.model}
    with tempfile.TemporaryDirectory() as tmp:
        result.update(distribution_files(args, Path(tmp)))
    if args.records:
        result.update(abstracts(args))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        print(f"{key:32} {value}")
    if "parse_share_of_embedding" in result:
        verdict = "under" if result["parse_share_of_embedding"] < 0.10 else "OVER"
        print(f"parsing adds {result['parse_share_of_embedding']:.1%} to embedding time ({verdict} the 10% budget)")


def abstracts(args) -> dict:
    """The plain XML figures: parsing, embedding alone and the whole ingest of ``--records`` records."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        small, big = tmp / "quarter.xml", tmp / "all.xml"
        write_pubmed_xml(small, max(1, args.records // 4))
        write_pubmed_xml(big, args.records)
        encoder = get_encoder(args.model)
        encoder.encode_batch(["warm up"])

        started = time.perf_counter()
        records = parse_all(big)
        parse_s = time.perf_counter() - started
        texts = [p.text for p in split_records(records)]

        started = time.perf_counter()
        encode_in_batches(encoder, texts)
        embed_s = time.perf_counter() - started

        started = time.perf_counter()
        report = ingest([big], index=tmp / "kb", encoder=encoder)
        ingest_s = time.perf_counter() - started
        assert report.added == args.records, report.summary()

        peak_small, peak_big = parser_peak_bytes(small), parser_peak_bytes(big)

    return {
        "records": args.records,
        "passages": len(texts),
        "parse_records_per_s": round(args.records / parse_s, 1),
        "embed_only_records_per_s": round(args.records / embed_s, 1),
        "ingest_records_per_s": round(args.records / ingest_s, 1),
        "parse_share_of_embedding": round(parse_s / embed_s, 4),
        "ingest_over_embed_only": round(ingest_s / embed_s, 3),
        "parser_peak_mb_quarter_file": round(peak_small / 1e6, 2),
        "parser_peak_mb_whole_file": round(peak_big / 1e6, 2),
        "parser_peak_growth": round(peak_big / peak_small, 3),
    }


if __name__ == "__main__":
    main()
