"""The ``checkpoint-qa`` command line: a thin click layer over the library.

``main(argv=None)`` is the entry point. Library errors (``AssistantError``) become one line on stderr and exit
status 1; usage errors exit 2; nothing reaches the user as a traceback. Heavy modules are imported inside the
commands that need them, so ``--help`` is instant.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click

from . import __version__
from .config import load_settings, valid_engine
from .corpus.detect import FORMATS
from .errors import AssistantError
from .types import RECORD_TYPES

INDEX_HELP = "Knowledge base folder (default: the shipped one; env CHECKPOINT_QA_INDEX)."
MODEL_HELP = "Embedding model name or folder (default: the index's model, else the packaged all-MiniLM-L6-v2)."


def index_option(f):
    return click.option("--index", "index", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help=INDEX_HELP)(f)


def model_option(f):
    return click.option("--model", default=None, help=MODEL_HELP)(f)


def bm25_tokens_option(f):
    return click.option("--bm25-tokens/--no-bm25-tokens", "bm25_tokens", default=None,
                        help="Sharded layout: keep each passage's BM25 tokens so BM25 ranks exactly as in a "
                             "single-file knowledge base (about 1.3 KB a passage on disk), or rank by tantivy's own "
                             "scores (about 0.005 lower hybrid nDCG@10 on SciFact). Default: the live version's "
                             "choice, else kept.")(f)


def precision_option(f):
    return click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "int8"]), default=None,
                        help="Encoder precision (default auto: documents with int8 weights where OpenVINO runs "
                             "on a CPU with int8 dot products, else bf16 where the CPU computes it natively, "
                             "else fp32; queries in bf16 or fp32).")(f)


_UNSAFE_IN_JSON = re.compile(r"[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def echo(message="", **kwargs) -> None:
    """``click.echo`` without control characters: record text cannot drive the user's terminal."""
    from .text import printable
    click.echo(printable(str(message)), **kwargs)


def _emit_json(value) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False)  # escapes C0 controls; C1 and bidi ones are escaped here
    click.echo(_UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="checkpoint-qa")
def cli():
    """Offline, cited answers about resistance to immune checkpoint inhibitors.

    \b
    Start:  checkpoint-qa build && checkpoint-qa chat
    """


@cli.command()
@click.option("--corpus", type=click.Path(path_type=Path), default=None,
              help="Folder of *.jsonl records, or one file (default: the shipped corpus in index/corpus).")
@click.option("--sources", "sources", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Build from source files or folders of any supported format instead (PubMed baseline and "
                   "update files: the newest version of each PMID, deletions applied). Repeatable.")
@click.option("--engine", "build_engine", type=click.Choice(["process", "ray"]), default="process",
              show_default=True, help="Run the build stages in this process, or on a Ray cluster (--sources).")
@click.option("--address", default=None, help="Ray cluster to join (default: start a local one; 'auto' for one "
                                              "started with `ray start`).")
@click.option("--actors", type=click.IntRange(1), default=2, show_default=True,
              help="Embedding actors on Ray, one encoder each.")
@click.option("--gpus-per-actor", type=click.FloatRange(0), default=0, show_default=True,
              help="GPUs each embedding actor holds on Ray (1: one GPU each, running the torch encoder; "
                   "with --precision fp32 or bf16).")
@click.option("--strict", is_flag=True, help="Stop at the first bad record instead of reporting it.")
@click.option("--layout", type=click.Choice(["single", "sharded"]), default=None,
              help="single: one set of files, read into memory (topic corpora); sharded: memory-mapped shards with "
                   "a BM25 index on disk (millions of passages; needs checkpoint-qa[scale]). Default: the live "
                   "version's layout, else single.")
@bm25_tokens_option
@index_option
@precision_option
@model_option
def build(corpus, sources, build_engine, address, actors, gpus_per_actor, strict, layout, bm25_tokens, index,
          precision, model):
    """Build (or update) a knowledge base from a corpus; unchanged passages are not re-embedded.

    \b
    Example:
      checkpoint-qa build
      checkpoint-qa build --corpus my-corpus/ --index ~/kb/melanoma
      checkpoint-qa build --sources ~/pubmed/baseline/ --sources ~/pubmed/updatefiles/ --engine ray \\
          --layout sharded --index ~/kb/pubmed
    """
    settings = load_settings({"corpus": corpus, "index": index, "model": model, "precision": precision})
    say = lambda m: echo(m, err=True)  # noqa: E731
    if sources or build_engine == "ray":
        from .kb.ray_build import build_from_sources
        if not sources:
            raise AssistantError("--engine ray builds from --sources (files or folders of any supported format)")
        report, resolved = build_from_sources(sources, settings.index_dir, settings=settings, engine=build_engine,
                                              address=address, actors=actors, strict=strict, layout=layout,
                                              progress=sys.stderr.isatty(), on_stage=say,
                                              gpus_per_actor=gpus_per_actor, bm25_tokens=bm25_tokens)
        for line in resolved.rejected[:30]:
            echo(f"rejected: {line}", err=True)
    else:
        from .pipeline import build_knowledge_base
        report = build_knowledge_base(settings=settings, progress=sys.stderr.isatty(), on_stage=say, layout=layout,
                                      bm25_tokens=bm25_tokens)
    echo(report.summary())


@cli.command()
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(1, 1000), default=8, show_default=True, help="Number of papers.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of hits.")
@click.option("--year-min", type=int, default=None, help="Only papers from this year on.")
@click.option("--year-max", type=int, default=None, help="Only papers up to this year.")
@click.option("--type", "types", multiple=True, type=click.Choice(list(RECORD_TYPES)),
              help="Only these record types (repeatable).")
@click.option("--publication-type", "publication_types", multiple=True,
              help="Only these publication types, e.g. 'Review' (repeatable).")
@click.option("--journal", "journals", multiple=True, help="Only these journals (repeatable).")
@click.option("--mesh", multiple=True, help="Only records with this MeSH term (repeatable).")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "sparse"]), default=None,
              help="Retrieval mode (default hybrid: BM25 and dense fused by reciprocal rank).")
@click.option("--mmr", type=float, default=None, help="Diversify the top hits (maximal marginal relevance, e.g. 0.7).")
@index_option
@model_option
def search(query, k, as_json, year_min, year_max, types, publication_types, journals, mesh, mode, mmr, index,
           model):
    """Rank the papers of a knowledge base for QUERY; each paper appears once.

    \b
    Example:
      checkpoint-qa search "JAK1 JAK2 loss of function" -k 5 --json
      checkpoint-qa search "CD279 resistance" --year-min 2018 --mode sparse
    """
    from .retriever import Filters, Retriever
    settings = load_settings({"index": index, "model": model, "mode": mode, "mmr": mmr})
    retriever = Retriever.load(settings=settings)
    filters = Filters(year_min, year_max, tuple(types), tuple(publication_types), tuple(journals), tuple(mesh))
    hits = retriever.search(query, k, filters)
    if as_json:
        _emit_json([h.to_dict() for h in hits])
        return
    if not hits:
        echo("no matching papers")
    for hit in hits:
        r = hit.record
        meta = ", ".join(str(x) for x in (r.short_authors, r.year, r.journal) if x)
        echo(f"{hit.rank:>2}. [{hit.score:.3f}] {r.title}")
        echo(f"    {meta}  {r.link or ''}".rstrip())
        where = ", ".join(x for x in (hit.passage.section, f"p. {hit.passage.page}" if hit.passage.page else "") if x)
        shown = hit.matches if hit.passage.body else ()
        if where and shown:
            echo(f"    in {where}:")
        for sentence in shown:
            echo(f"    > {sentence if len(sentence) < 240 else sentence[:237] + '...'}")


@cli.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the answer and citations.")
@click.option("-k", "k", type=click.IntRange(1, 100), default=None, help="Papers to retrieve before answering.")
@click.option("--min-score", type=float, default=None,
              help="Refusal threshold on the best retrieval score (env CHECKPOINT_QA_MIN_SCORE).")
@click.option("--engine", default=None,
              help="Answer engine (default extractive: quotes sources, no language model); `checkpoint-qa engines` "
                   "lists what can answer here: local, llamacpp, transformers, ollama:MODEL, openai:MODEL.")
@click.option("--llm", default=None,
              help="Language model: a .gguf file (llama.cpp) or a model folder (transformers) for --engine local "
                   "(default: the packaged Gemma 3 270M), the model name for --engine openai (env CHECKPOINT_QA_LLM).")
@click.option("--stream/--no-stream", default=None, help="Print the answer as it is written (default: on a terminal).")
@index_option
@model_option
def ask(question, as_json, k, min_score, engine, llm, stream, index, model):
    """Answer QUESTION from the knowledge base with numbered, verified citations (or refuse).

    \b
    Example:
      checkpoint-qa ask "Does the gut microbiome affect response to anti-PD-1 therapy?"
      checkpoint-qa ask "What is the capital of Australia?" --json
      checkpoint-qa ask --engine local "How do JAK1/2 mutations cause resistance to PD-1 blockade?"
    """
    from .answer import Answerer
    from .retriever import Retriever
    settings = load_settings({"index": index, "model": model, "k": k, "min_score": min_score, "engine": engine,
                              "llm": llm})
    answerer = Answerer(Retriever.load(settings=settings), settings)
    live = sys.stdout.isatty() if stream is None else stream
    answer = None
    if live and not as_json and answerer.engine.name != "extractive":
        shown = 0
        for text, answer in answerer.stream(question):
            if answer is None:
                echo(text[shown:], nl=False)
                shown = len(text)
        echo("\n\nChecked:" if shown else "")
    else:
        answer = answerer.answer(question)
    if as_json:
        _emit_json(answer.to_dict())
        return
    echo(answer.text)
    for check in answer.checks:
        for problem in check.problems:
            echo(f"  ! {problem}", err=True)
    if answer.sources:
        echo("\nSources:")
        for citation in answer.sources:
            echo(f"  {citation.reference_line()}")
            if citation.evidence == "title":
                echo("      (title only)" + (f" topics: {'; '.join(citation.record.subjects)}"
                                                   if citation.record.subjects else ""))
            else:
                where = f"{citation.place}, " if citation.place else ""
                echo(f"      \"{citation.quote}\" ({citation.evidence.replace('_', ' ')}, {where}relevance "
                     f"{citation.relevance:.2f})" if citation.relevance is not None else
                     f"      \"{citation.quote}\"" + (f" ({citation.place})" if citation.place else ""))


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default=None,
              help="Force a format instead of detecting it from the extension and content.")
@click.option("--strict", is_flag=True, help="Stop at the first bad record (default: skip it and report it).")
@click.option("--engine", "build_engine", type=click.Choice(["process", "ray"]), default="process",
              show_default=True, help="Embed the new passages in this process, or on a Ray cluster.")
@click.option("--address", default=None, help="Ray cluster to join with --engine ray (default: a local one).")
@click.option("--actors", type=click.IntRange(1), default=2, show_default=True, help="Embedding actors on Ray.")
@click.option("--gpus-per-actor", type=click.FloatRange(0), default=0, show_default=True,
              help="GPUs each embedding actor holds on Ray (runs the torch encoder on it).")
@index_option
@model_option
def ingest(paths, fmt, strict, build_engine, address, actors, gpus_per_actor, index, model):
    """Add files or folders of literature to a knowledge base.

    Reads PubMed XML (EFetch exports, baseline and update files, whose DeleteCitation entries remove records),
    full-text articles in JATS XML (PMC's .nxml) and text PDFs, MEDLINE, RIS, BibTeX, PubMed CSV and JSON Lines;
    any of them may be gzipped (.gz). A folder is read with everything under it. Records are matched by PMID,
    then DOI, then title (a full text and its PubMed record become one paper); only new or changed text is
    embedded, and the knowledge base is swapped in atomically. Prints what each file added, updated, removed or
    rejected.

    \b
    Examples:
      checkpoint-qa ingest pubmed-export.xml my-library.ris --index ~/kb/melanoma
      checkpoint-qa ingest ~/Zotero/storage/ ~/pubmed/baseline/
    """
    from .ingest import ingest as run_ingest
    settings = load_settings({"index": index, "model": model})
    embedder = None
    if build_engine == "ray":
        from .kb.ray_build import on_ray
        embedder = on_ray(address, actors, backend=settings.document_encoder, gpus_per_actor=gpus_per_actor)
    report = run_ingest(paths, fmt=fmt, strict=strict, settings=settings, progress=sys.stderr.isatty(),
                        embedder=embedder)
    _print_report(report)
    if report.rejected and not (report.added or report.updated or report.unchanged or report.removed):
        raise AssistantError(f"nothing ingested: all {len(report.rejected)} input(s) rejected")


def _print_report(report) -> None:
    for item in report.rejected:
        echo(f"rejected: {item}", err=True)
    for label, lines in (("updated", report.changes), ("possible duplicate", report.duplicates),
                         ("truncated", report.truncated)):
        for line in lines:
            echo(f"{label}: {line}", err=True)
    if len(report.files) > 1:
        for file in report.files:
            echo(f"  {file.line()}")
    echo(report.summary())


@cli.command()
@click.option("--query", default=None, help="PubMed search terms, as typed on the PubMed site.")
@click.option("--hydrate", is_flag=True,
              help="Instead of a query: fill in the knowledge base's title-only papers with their PubMed abstract, "
                   "year, journal, authors and PMID (looked up by PMID, DOI or exact title).")
@click.option("--max", "max_records", type=click.IntRange(1, 100000), default=500, show_default=True,
              help="Most records to fetch.")
@click.option("--since", default=None, help="Only records entered on or after this date (YYYY-MM-DD).")
@click.option("--strict", is_flag=True, help="Stop at the first bad record.")
@index_option
@model_option
def fetch(query, hydrate, max_records, since, strict, index, model):
    """Build or extend a knowledge base from PubMed (NCBI E-utilities; needs the internet).

    With --query, the records PubMed finds are added. With --hydrate, papers the knowledge base knows by title
    only gain their abstract and metadata, so answers can quote them; a title PubMed does not find exactly is left
    as it is and listed. Set NCBI_API_KEY and NCBI_EMAIL in the environment for NCBI's higher rate limit.
    Downloads are cached in the knowledge base folder, so an interrupted fetch resumes where it stopped.

    \b
    Examples:
      checkpoint-qa fetch --query "PD-1 resistance melanoma" --max 200 --since 2020-01-01 --index ~/kb/pd1
      checkpoint-qa fetch --hydrate
    """
    from .fetch import EUtilsClient, download
    from .ingest import ingest as run_ingest
    if bool(query) == hydrate:
        raise AssistantError("pass either --query 'TERMS' (add what PubMed finds) or --hydrate (fill in title-only "
                             "papers)")
    settings = load_settings({"index": index, "model": model})
    client = EUtilsClient(settings.eutils_url)
    if hydrate:
        from .hydrate import hydrate as run_hydrate
        report = run_hydrate(settings.index_dir, client, progress=sys.stderr.isatty())
        for line in report.not_found:
            echo(f"not found: {line}", err=True)
        for line in report.filled:
            echo(f"filled in: {line}", err=True)
        echo(report.summary())
        return
    paths = download(client, query, settings.index_dir / "fetch-cache", max_records, since,
                     progress=sys.stderr.isatty())
    if not paths:
        echo(f"PubMed found no records for {query!r}; nothing changed")
        return
    echo(f"fetched {len(paths)} batch(es) of PubMed XML", err=True)
    report = run_ingest(paths, fmt="pubmed-xml", strict=strict, settings=settings, progress=sys.stderr.isatty())
    _print_report(report)


@cli.command()
@click.argument("ids", nargs=-1, required=True)
@index_option
def remove(ids, index):
    """Remove records by id, PMID or DOI from a knowledge base.

    \b
    Example:
      checkpoint-qa remove pmid:27903500 10.1126/science.aan3706
    """
    from .ingest import remove as run_remove
    report = run_remove(ids, settings=load_settings({"index": index}))
    _print_report(report)
    if report.rejected and not report.removed:
        raise AssistantError("nothing removed")


@cli.command()
@index_option
def compact(index):
    """Fold the updates of a sharded knowledge base (new shards, dead papers) into clean shards.

    Nothing is embedded and no search result changes (the dense index keeps its quantizer and nprobe). Updates
    applied as deltas make it worth running after many update files.

    \b
    Example:
      checkpoint-qa compact --index ~/kb/pubmed
    """
    from .encoders import get_encoder
    from .kb.delta import compact as run_compact
    from .kb.store import KnowledgeBase
    settings = load_settings({"index": index})
    manifest = KnowledgeBase.read_manifest(settings.index_dir)
    encoder = get_encoder(manifest["model"], manifest.get("precision", "fp32"), settings.document_encoder)
    report = run_compact(settings.index_dir, encoder, on_stage=lambda m: echo(m, err=True))
    echo(report.summary())


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@index_option
def info(as_json, index):
    """Show what a knowledge base holds: records by type, years, model, size, build date.

    \b
    Example:
      checkpoint-qa info --index ~/kb/melanoma
    """
    from .kb.store import KnowledgeBase, describe
    from .pipeline import ensure_default_knowledge_base
    settings = load_settings({"index": index})
    ensure_default_knowledge_base(settings)
    facts = describe(KnowledgeBase.load(settings.index_dir))
    if as_json:
        _emit_json(facts)
        return
    echo(f"knowledge base: {facts['path']}")
    echo(f"records:        {facts['records']} ({', '.join(f'{n} {t}' for t, n in facts['types'].items())})")
    echo(f"passages:       {facts['passages']}")
    years = facts["years"]
    echo(f"years:          {years['min']}–{years['max']} ({years['unknown']} without a year)" if years["min"]
               else "years:          unknown")
    echo(f"model:          {facts['model']} ({facts['dimension']} dimensions)")
    echo(f"layout:         {facts['layout']} (BM25: {facts['bm25']})")
    echo(f"size on disk:   {facts['bytes'] / 1e6:.1f} MB")
    echo(f"built:          {facts['built_at']} (checkpoint-qa {facts['package_version']})")


@cli.group(name="eval")
def eval_group():
    """Measure retrieval and answers on public benchmarks (BEIR layout)."""


@eval_group.command(name="retrieval")
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder with corpus.jsonl[.gz], queries.jsonl and qrels.tsv.")
@click.option("--split", default="test", show_default=True, help="Queries of this split (when queries have one).")
@click.option("--qrels", default=None, help="Relevance file inside --data (default qrels.tsv).")
@click.option("--method", "methods", multiple=True, type=click.Choice(["bm25", "dense", "hybrid"]),
              help="Methods to score (default all three).")
@click.option("--rrf-k", type=int, default=None, help="Reciprocal rank fusion constant (default 60).")
@click.option("--dense-weight", type=float, default=None, help="Weight of the dense ranking in fusion.")
@click.option("--sparse-weight", type=float, default=None, help="Weight of the BM25 ranking in fusion.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--keep-index", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Build the evaluation index here and keep it; a rerun then embeds nothing.")
@click.option("--layout", type=click.Choice(["single", "sharded"]), default=None,
              help="Knowledge base layout to evaluate (sharded: tantivy BM25, float16 vectors).")
@bm25_tokens_option
@precision_option
@model_option
def eval_retrieval(data_dir, split, qrels, methods, rrf_k, dense_weight, sparse_weight, as_json, keep_index,
                   layout, bm25_tokens, precision, model):
    """Score BM25, dense and hybrid retrieval: nDCG@10, Recall@1/10/100, MRR@10.

    Builds a throw-away index of the benchmark corpus; nothing is written to your knowledge bases.

    \b
    Example:
      checkpoint-qa eval retrieval --data ../shared/eval/scifact
      checkpoint-qa eval retrieval --data ../shared/eval/scifact --split train --qrels qrels_train.tsv --json
    """
    from .evaluate import METHODS, evaluate_retrieval, format_table, load_beir
    settings = load_settings({"model": model, "rrf_k": rrf_k, "dense_weight": dense_weight,
                              "sparse_weight": sparse_weight, "precision": precision})
    data = load_beir(data_dir, split or None, qrels)
    result = evaluate_retrieval(data, settings, methods or METHODS, index_dir=keep_index,
                                progress=sys.stderr.isatty(), layout=layout, bm25_tokens=bm25_tokens)
    echo(json.dumps(result, indent=2) if as_json else format_table(result))


@eval_group.command(name="answers")
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder with corpus.jsonl[.gz], queries.jsonl and qrels.tsv.")
@click.option("--split", default="test", show_default=True, help="Questions of this split.")
@click.option("--engine", "engines", multiple=True,
              help="Engines to evaluate (repeatable; default extractive; see `checkpoint-qa engines`).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N questions.")
@click.option("--off-topic", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Off-topic questions, one a line (default tests/data/off_topic_questions.txt).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--keep-index", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Build the evaluation index here and keep it; a rerun then embeds nothing.")
@model_option
def eval_answers(data_dir, split, engines, limit, off_topic, as_json, keep_index, model):
    """Score answers: citation precision, answer and refusal rates, time to first text and total time.

    \b
    Example:
      checkpoint-qa eval answers --data ../shared/eval/scifact
      checkpoint-qa eval answers --data ../shared/eval/pubmedqa --engine extractive --engine local --limit 30
    """
    from .evaluate import load_beir
    from .evaluate_answers import evaluate_answers, format_answer_table
    data = load_beir(data_dir, split or None)
    result = evaluate_answers(data, engines or ("extractive",), load_settings({"model": model}), limit, off_topic,
                              keep_index)
    echo(json.dumps(result, indent=2) if as_json else format_answer_table(result))


@cli.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1; env CHECKPOINT_QA_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default 7860).")
@click.option("--build/--no-build", "build_first", default=True, show_default=True,
              help="Build the shipped knowledge base first when it is missing.")
@click.option("--auth-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Require a login: a file of user:password lines (or set CHECKPOINT_QA_AUTH; never on argv).")
@click.option("--no-auth", is_flag=True,
              help="Allow a non-loopback --host without a login (otherwise refused).")
@click.option("--engine", default=None, help="Default answer engine (switchable in the page; see "
                                            "`checkpoint-qa engines`).")
@index_option
@model_option
def chat(host, port, build_first, auth_file, no_auth, engine, index, model):
    """Open the web chat (Gradio) on http://127.0.0.1:7860.

    \b
    Example:
      checkpoint-qa chat
      checkpoint-qa chat --port 8080 --index ~/kb/melanoma
    """
    from .kb.store import KnowledgeBase
    settings = load_settings({"index": index, "model": model, "host": host, "port": port, "engine": engine})
    if build_first:
        from .pipeline import ensure_default_knowledge_base
        ensure_default_knowledge_base(settings)
    KnowledgeBase.read_manifest(settings.index_dir)
    from .ui import launch
    launch(settings, auth_file, no_auth)


@cli.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1; env CHECKPOINT_QA_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default 8000).")
@click.option("--engines", default=None,
              help="Comma-separated engines requests may choose (default: only the configured one, extractive). "
                   "A request cannot make the server load a model the operator did not enable.")
@click.option("--no-auth", is_flag=True, help="Allow a non-loopback --host (the API has no login).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processes sharing the port and the memory-mapped knowledge base.")
@index_option
@model_option
def serve(host, port, engines, no_auth, workers, index, model):
    """Serve the HTTP API: /health, /search, /ask (JSON or server-sent events), /records/{id}.

    \b
    Example:
      checkpoint-qa serve --port 8000
      curl -s http://127.0.0.1:8000/search -H 'content-type: application/json' -d '{"query": "JAK1 loss", "k": 3}'
    """
    from .login import check_exposure
    from .server import serve as run_server
    settings = load_settings({"index": index, "model": model, "host": host, "port": port or 8000})
    chosen = [e.strip() for e in (engines or "").split(",") if e.strip()]
    unknown = sorted(name for name in chosen if not valid_engine(name))
    if unknown:
        raise AssistantError(f"unknown engine {unknown[0]!r} in --engines; see checkpoint-qa engines")
    warning = check_exposure(settings.host, False, no_auth, "the API")
    if warning:
        echo(warning, err=True)
    run_server(settings, chosen, workers)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the engines as JSON.")
def engines(as_json):
    """List the answer engines: which can answer on this machine, and why the others cannot.

    \b
    Finds by itself: the packaged Gemma (llama.cpp or transformers), an Ollama server on its default address (or
    OLLAMA_HOST) with each of its models, and the OpenAI-compatible server set as openai_base_url.
    Example:
      checkpoint-qa engines
      checkpoint-qa ask --engine ollama:llama3.2 "Does the gut microbiome affect response to anti-PD-1?"
    """
    from dataclasses import asdict
    from .answer.engines import engine_options
    options = engine_options(load_settings())
    if as_json:
        echo(json.dumps([asdict(o) for o in options], indent=2))
        return
    for option in options:
        echo(option.line())


@cli.command()
@index_option
def repair(index):
    """Point the knowledge base at its newest intact version when the live one is missing or damaged.

    Nothing is deleted and nothing is rebuilt: what you ingested stays.

    \b
    Example:
      checkpoint-qa repair --index ~/kb/melanoma
    """
    from .kb.store import repair as run_repair
    done, skipped = run_repair(load_settings({"index": index}).index_dir)
    for line in skipped:
        echo(f"skipped damaged version {line}", err=True)
    echo(done)


@cli.command()
@index_option
@model_option
def mcp(index, model):
    """Run the MCP server (stdio) with the tools `search` and `ask`.

    \b
    Example:
      checkpoint-qa mcp --index ~/kb/melanoma
    """
    from .answer import Answerer
    from .mcp_server import create_mcp
    from .retriever import Retriever
    settings = load_settings({"index": index, "model": model})
    retriever = Retriever.load(settings=settings)
    retriever.follow()
    create_mcp(Answerer(retriever, settings)).run("stdio")


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="checkpoint-qa", standalone_mode=False)
    except AssistantError as exc:
        echo(f"error: {exc}", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        echo("aborted", err=True)
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # a disk or permission problem the library did not foresee: one line, not a traceback
        where = f" ({exc.filename})" if exc.filename else ""
        echo(f"error: {exc.strerror or exc}{where}", err=True)
        return 1
    return 0


def run() -> None:
    sys.exit(main())
