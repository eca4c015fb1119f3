"""Hybrid retrieval: the biomedical analyser, synonyms, fusion, filters and diversity."""

import pytest

from assistant import Filters, Retriever
from assistant.analysis import analyse, tokens
from assistant.errors import ConfigError
from assistant.pipeline import build_knowledge_base
from assistant.retriever import rrf
from assistant.synonyms import DEFAULT_TABLE, SynonymTable
from conftest import FAKE, write_jsonl


def test_analyser_keeps_gene_and_drug_names_whole():
    assert analyse("PD-1, PD-L1 and PD-L2") == [["pd1"], ["pdl1"], ["pdl2"]]
    assert tokens("JAK1/2 mutations") == ["jak1", "jak2", "mutat"]
    assert tokens("anti-PD-1 therapy")[:2] == ["antipd1", "pd1"]
    assert tokens("IFN-γ") == tokens("IFN-gamma")
    assert tokens("TGF-β")[0] == "tgfbeta"
    assert "cell" in tokens("T-cell infiltration") and "tcell" in tokens("T-cell infiltration")
    assert tokens("the resistance of tumours") == ["resist", "tumour"]


def test_synonym_table_is_data_and_expands_queries():
    assert DEFAULT_TABLE.suffix == ".txt" and "CD279" in DEFAULT_TABLE.read_text()
    table = SynonymTable.load()
    assert {"pd1", "pdcd1"} <= set(table.expansion("CD279 expression"))
    assert "nivolumab" in table.expansion("resistance to anti-PD-1 antibodies")
    assert {"pdl1", "cd274"} <= set(table.expansion("programmed death-ligand 1 on tumour cells"))
    assert table.expansion("the capital of Australia") == []


def test_own_synonym_table(tmp_path):
    path = tmp_path / "syn.txt"
    path.write_text("# mine\nfoo | barzyme\n")
    assert SynonymTable.load(path).expansion("foo levels") == ["foo", "barzym"]  # stemmed
    path.write_text("lonely\n")
    with pytest.raises(ConfigError, match=r"syn\.txt:1: a synonym group needs at least two names"):
        SynonymTable.load(path)


@pytest.fixture
def retriever(tmp_path):
    rows = [
        {"id": "a", "type": "abstract", "title": "Programmed death 1 blockade in melanoma",
         "text": "Blocking PD-1 restored T cell function in most patients.", "year": 2019},
        {"id": "b", "type": "abstract", "title": "Interferon signalling in tumour cells",
         "text": "JAK1 loss abolished the response to interferon gamma.", "year": 2017,
         "publication_types": ["Journal Article"], "mesh_terms": ["Janus Kinase 1"], "journal": "Cancer Discov"},
        {"id": "c", "type": "abstract", "title": "Interferon signalling in tumour cells",
         "text": "JAK1 loss abolished the response to interferon gamma in mice.", "year": 2018,
         "publication_types": ["Review"], "journal": "Nat Rev Immunol"},
        {"id": "d", "type": "title", "title": "Gut bacteria and immunotherapy outcome", "year": 2020},
    ]
    write_jsonl(tmp_path / "c" / "r.jsonl", rows)
    build_knowledge_base(corpus=tmp_path / "c", index=tmp_path / "kb", model=FAKE)
    return Retriever.load(tmp_path / "kb")


def test_cd279_finds_pd1_through_the_sparse_side(retriever):
    hits = retriever.search("CD279", k=3, mode="sparse")
    assert hits and hits[0].record.id == "a" and hits[0].sparse_score > 0
    assert "Blocking PD-1 restored T cell function in most patients." in hits[0].matches
    no_synonyms = SynonymTable([])
    bare = Retriever(retriever.kb, retriever.encoder, retriever.settings, synonyms=no_synonyms)
    assert bare.search("CD279", k=3, mode="sparse") == []


def test_matches_follow_the_query_and_can_be_skipped(retriever):
    hit = retriever.search("JAK1 loss interferon gamma mice", k=1)[0]
    assert hit.matches == ("JAK1 loss abolished the response to interferon gamma in mice.",)
    assert hit.to_dict()["matches"] == list(hit.matches)
    skipped = retriever.search("JAK1 loss interferon gamma mice", k=1, matches=False)[0]
    assert skipped.record.id == hit.record.id and skipped.matches == ()


def test_hybrid_fuses_both_rankings(retriever):
    hits = retriever.search("JAK1 loss interferon gamma in mice", k=4)
    assert [hits[0].record.id, hits[1].record.id] == ["c", "b"]
    assert all(h.dense_score is not None for h in hits)
    s = retriever.settings  # first on both sides: the sum of both weights over (rrf_k + 1)
    assert hits[0].score == pytest.approx((s.dense_weight + s.sparse_weight) / (s.rrf_k + 1))


def test_rrf_definition():
    fused = rrf([([1, 2, 3], 1.0), ([3, 1], 0.5)], rrf_k=60)
    assert fused[1] == pytest.approx(1 / 61 + 0.5 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 0.5 / 61)
    assert fused[2] == pytest.approx(1 / 62)


@pytest.mark.parametrize("filters, expected", [
    (Filters(publication_types=("review",)), ["c"]),
    (Filters(journals=("Cancer Discov",)), ["b"]),
    (Filters(mesh=("janus kinase 1",)), ["b"]),
    (Filters(types=("title",)), ["d"]),
    (Filters(year_min=2021), []),
])
def test_metadata_filters(retriever, filters, expected):
    assert [h.record.id for h in retriever.search("interferon JAK1 melanoma bacteria", k=4, filters=filters)] \
        == expected


def test_mmr_spreads_near_duplicates(retriever):
    from dataclasses import replace
    plain = [h.record.id for h in retriever.search("JAK1 loss interferon gamma tumour", k=3, mode="dense")]
    assert set(plain[:2]) == {"b", "c"}
    diverse = Retriever(retriever.kb, retriever.encoder, replace(retriever.settings, mmr=0.5))
    ids = [h.record.id for h in diverse.search("JAK1 loss interferon gamma tumour", k=3, mode="dense")]
    assert ids[0] in {"b", "c"} and ids[1] not in {"b", "c"}


@pytest.mark.parametrize("mode", ["hybrid", "dense", "sparse"])
def test_filter_finds_the_record_that_ranks_last(tmp_path, mode):
    rows = [{"id": f"r{i}", "type": "abstract", "title": f"Interferon gamma signalling and JAK1 loss, study {i}",
             "text": "Tumour cells lacking JAK1 ignore interferon gamma and escape PD-1 blockade.", "year": 2016 + i}
            for i in range(8)]
    rows.append({"id": "old", "type": "abstract", "title": "Hospital staffing and nurse workload in 2015",
                 "text": "Staffing levels, rosters and overtime were recorded; one ward ran an interferon trial.",
                 "year": 2015})
    write_jsonl(tmp_path / "c" / "r.jsonl", rows)
    build_knowledge_base(corpus=tmp_path / "c", index=tmp_path / "kb", model=FAKE)
    retriever = Retriever.load(tmp_path / "kb")
    query = "interferon gamma JAK1 loss in tumour cells"
    assert [h.record.id for h in retriever.search(query, k=9, mode=mode)][-1] == "old"
    only = retriever.search(query, k=3, mode=mode, filters=Filters(year_min=2015, year_max=2015))
    assert [h.record.id for h in only] == ["old"]
