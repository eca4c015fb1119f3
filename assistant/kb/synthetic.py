"""A synthetic PubMed of any size, shaped like NCBI's distribution: gzipped baseline files of ``<PubmedArticle>``s
and update files that revise some articles (same PMID, new text) and delete others (``<DeleteCitation>``).

The text is generated here from a fixed vocabulary (no third-party text), deterministically from the seed, so a
build of it can be compared byte for byte between runs and between the in-process and the Ray build.

    python -m assistant.kb.synthetic OUT --files 32 --per-file 1000 --updates 3
"""

from __future__ import annotations

import argparse
import gzip
import random
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

GENES = ["JAK1", "JAK2", "B2M", "PTEN", "STK11", "KEAP1", "CTNNB1", "TGFB1", "IDO1", "NT5E", "LAG3", "HAVCR2",
         "TIGIT", "CD274", "IFNGR1", "APLNR", "SERPINB9", "PTPN2", "ADAR", "SETDB1"]
CANCERS = ["melanoma", "non-small cell lung cancer", "renal cell carcinoma", "urothelial carcinoma",
           "head and neck squamous cell carcinoma", "colorectal cancer", "triple-negative breast cancer"]
THERAPIES = ["anti-PD-1 therapy", "PD-L1 blockade", "anti-CTLA-4 therapy", "combined PD-1 and CTLA-4 blockade"]
TYPES = ["Journal Article", "Review", "Clinical Trial", "Randomized Controlled Trial", "Case Reports"]
JOURNALS = ["Journal of Synthetic Oncology", "Synthetic Immunology Reports", "Annals of Generated Cancer Research"]


@dataclass(frozen=True)
class Layout:
    baseline: list[Path]
    updates: list[Path]
    pmids: int
    revised: int
    deleted: int


def _fields(pmid: int, rng: random.Random, revision: int = 0) -> dict:
    """One synthetic article's fields, the same whether written as XML or made into a ``Record``."""
    gene, other = rng.sample(GENES, 2)
    cancer, therapy = rng.choice(CANCERS), rng.choice(THERAPIES)
    year = 1995 + pmid % 31
    n = 40 + rng.randrange(900)
    sentences = [
        f"We studied {gene} and {other} alterations in {n} patients with {cancer} treated with {therapy}.",
        f"Loss of {gene} was associated with shorter progression-free survival (hazard ratio "
        f"{1 + rng.randrange(150) / 100:.2f}).",
        f"Tumours with {other} alterations showed {rng.choice(['fewer', 'more'])} infiltrating CD8 T cells.",
        f"{gene} status {rng.choice(['may predict', 'did not predict'])} resistance to {therapy}."]
    sentences += [f"In cohort {k + 2}, {rng.choice(GENES)} expression {rng.choice(['rose', 'fell'])} after "
                  f"{rng.choice(THERAPIES)} in {rng.randrange(5, 95)}% of {rng.choice(CANCERS)} samples."
                  for k in range(rng.randrange(0, 5))]
    if revision:
        sentences.append(f"This version {revision} corrects the survival analysis.")
    title = f"{gene} loss and resistance to {therapy} in {n} patients with {cancer}"
    title += f" (revised {revision})" if revision else ""
    types = sorted({"Journal Article", rng.choice(TYPES)})  # drawn before the journal, as the files always were
    return {"pmid": pmid, "year": year, "title": title, "abstract": " ".join(sentences),
            "types": types, "journal": rng.choice(JOURNALS),
            "mesh": [gene, cancer.title(), "Immune Checkpoint Inhibitors"],
            "authors": [f"Synth{pmid % 97} A", f"Gen{pmid % 89} B"]}


def _article(pmid: int, rng: random.Random, revision: int = 0) -> str:
    f = _fields(pmid, rng, revision)
    types = "".join(f"<PublicationType>{t}</PublicationType>" for t in f["types"])
    mesh = "".join(f"<MeshHeading><DescriptorName>{escape(term)}</DescriptorName></MeshHeading>"
                   for term in f["mesh"])
    authors = "".join(f"<Author><LastName>{a.split()[0]}</LastName><Initials>{a.split()[1]}</Initials></Author>"
                      for a in f["authors"])
    return (f'<PubmedArticle><MedlineCitation Status="MEDLINE"><PMID Version="1">{pmid}</PMID><Article>'
            f"<Journal><JournalIssue><PubDate><Year>{f['year']}</Year></PubDate></JournalIssue>"
            f"<Title>{escape(f['journal'])}</Title></Journal>"
            f"<ArticleTitle>{escape(f['title'])}</ArticleTitle>"
            f"<Abstract><AbstractText>{escape(f['abstract'])}</AbstractText></Abstract>"
            f"<AuthorList>{authors}</AuthorList>"
            f"<PublicationTypeList>{types}</PublicationTypeList></Article>"
            f"<MeshHeadingList>{mesh}</MeshHeadingList></MedlineCitation>"
            f'<PubmedData><ArticleIdList><ArticleId IdType="pubmed">{pmid}</ArticleId></ArticleIdList></PubmedData>'
            f"</PubmedArticle>")


def records(count: int, seed: int = 7, first_pmid: int = 40_000_000):
    """``count`` synthetic articles as ``Record``s directly (what the baseline files of ``generate`` hold, without
    writing and parsing XML): for benchmarks that need a million passages quickly."""
    from ..types import Record
    for pmid in range(first_pmid, first_pmid + count):
        f = _fields(pmid, random.Random(pmid * 7919 + seed))
        yield Record(id=f"pmid:{pmid}", type="abstract", title=f["title"], text=f["abstract"],
                     authors=", ".join(f["authors"]), journal=f["journal"], year=f["year"], pmid=str(pmid),
                     extra={"publication_types": f["types"], "mesh_terms": f["mesh"]})


def _write(path: Path, articles: list[str], deletions: list[int] = ()) -> Path:
    delete = ("<DeleteCitation>" + "".join(f'<PMID Version="1">{p}</PMID>' for p in deletions)
              + "</DeleteCitation>") if deletions else ""
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=3) as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<PubmedArticleSet>\n')
        for article in articles:
            out.write(article + "\n")
        out.write(f"{delete}</PubmedArticleSet>\n")
    return path


def generate(folder: Path, files: int = 4, per_file: int = 100, updates: int = 0, revise: float = 0.02,
             delete: float = 0.01, seed: int = 7, first_pmid: int = 40_000_000) -> Layout:
    """Write ``files`` baseline files of ``per_file`` articles and ``updates`` update files into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    baseline, pmid = [], first_pmid
    for f in range(files):
        articles = []
        for _ in range(per_file):
            articles.append(_article(pmid, random.Random(pmid * 7919 + seed)))
            pmid += 1
        baseline.append(_write(folder / f"pubmed26n{f + 1:04d}.xml.gz", articles))
    total, update_files, revised, deleted = pmid - first_pmid, [], 0, 0
    for u in range(updates):
        chosen = rng.sample(range(first_pmid, pmid), max(1, int(total * revise)))
        gone = rng.sample(range(first_pmid, pmid), max(1, int(total * delete)))
        articles = [_article(p, random.Random(p * 7919 + seed + u + 1), revision=u + 1) for p in chosen]
        articles += [_article(pmid + k, random.Random((pmid + k) * 7919 + seed)) for k in range(per_file // 10)]
        pmid += per_file // 10
        update_files.append(_write(folder / f"pubmed26n{9000 + u + 1:04d}.xml.gz", articles, gone))
        revised, deleted = revised + len(chosen), deleted + len(gone)
    return Layout(baseline, update_files, pmid - first_pmid, revised, deleted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--per-file", type=int, default=100)
    parser.add_argument("--updates", type=int, default=0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    layout = generate(args.folder, args.files, args.per_file, args.updates, seed=args.seed)
    print(f"{len(layout.baseline)} baseline and {len(layout.updates)} update files, {layout.pmids} PMIDs "
          f"({layout.revised} revisions, {layout.deleted} deletions) in {args.folder}")


if __name__ == "__main__":
    main()
