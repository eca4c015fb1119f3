"""Ingestion benchmark: parse and embed N generated PubMed XML records.

Prints records/s for parsing alone, embedding alone (the baseline: the same passage texts through the same
encoder, measured in the same run) and the whole ingest, the share parsing adds to embedding time, and the
parser's peak memory at a quarter of the file and at the whole file (flat when streaming works).

    .venv/bin/python benchmarks/ingest_bench.py --records 20000            # packaged MiniLM (slow on 2 cores)
    .venv/bin/python benchmarks/ingest_bench.py --records 20000 --model hash:384
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.corpus.detect import read_items  # noqa: E402
from assistant.encoders import encode_in_batches, get_encoder  # noqa: E402
from assistant.ingest import ingest  # noqa: E402
from assistant.passages import split_records  # noqa: E402
from assistant.types import Record  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

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

    result = {
        "records": args.records,
        "passages": len(texts),
        "model": args.model,
        "parse_records_per_s": round(args.records / parse_s, 1),
        "embed_only_records_per_s": round(args.records / embed_s, 1),
        "ingest_records_per_s": round(args.records / ingest_s, 1),
        "parse_share_of_embedding": round(parse_s / embed_s, 4),
        "ingest_over_embed_only": round(ingest_s / embed_s, 3),
        "parser_peak_mb_quarter_file": round(peak_small / 1e6, 2),
        "parser_peak_mb_whole_file": round(peak_big / 1e6, 2),
        "parser_peak_growth": round(peak_big / peak_small, 3),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        print(f"{key:32} {value}")
    verdict = "under" if result["parse_share_of_embedding"] < 0.10 else "OVER"
    print(f"parsing adds {result['parse_share_of_embedding']:.1%} to embedding time ({verdict} the 10% budget)")


if __name__ == "__main__":
    main()
