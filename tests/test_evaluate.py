"""The evaluation harness: metric definitions on textbook cases, BEIR loading, and the CLI on a tiny dataset."""

import gzip
import json
import math
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.errors import AssistantError
from assistant.evaluate import load_beir, mrr_at, ndcg_at, recall_at, score_rankings

SHARED_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


def test_ndcg_matches_the_textbook_definition():
    relevant = {"a": 3, "b": 2, "c": 1}
    ranking = ["b", "x", "a", "c"]
    dcg = 2 / math.log2(2) + 3 / math.log2(4) + 1 / math.log2(5)
    idcg = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(ranking, relevant, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at(["a", "b", "c"], relevant, 10) == pytest.approx(1.0)
    assert ndcg_at(["x", "y"], relevant, 10) == 0.0


def test_recall_and_mrr():
    relevant = {"a": 1, "b": 1}
    assert recall_at(["x", "a", "y", "b"], relevant, 2) == 0.5
    assert recall_at(["x", "a", "y", "b"], relevant, 10) == 1.0
    assert mrr_at(["x", "y", "a"], relevant, 10) == pytest.approx(1 / 3)
    assert mrr_at(["x"] * 10 + ["a"], relevant, 10) == 0.0
    scores = score_rankings({"q1": ["a"], "q2": ["x", "b"]}, {"q1": {"a": 1}, "q2": {"b": 1}})
    assert scores["mrr@10"] == pytest.approx(0.75) and scores["recall@1"] == pytest.approx(0.5)


@pytest.fixture
def tiny_beir(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    docs = [{"_id": "d1", "title": "JAK1 loss", "text": "JAK1 mutations cause resistance to PD-1 blockade."},
            {"_id": "d2", "title": "Gut bacteria", "text": "The microbiome shapes response to immunotherapy."},
            {"_id": "d3", "title": "", "text": "Steroids reduce the benefit of checkpoint inhibitors."}]
    with gzip.open(folder / "corpus.jsonl.gz", "wt") as handle:
        handle.writelines(json.dumps(d) + "\n" for d in docs)
    queries = [{"_id": "q1", "text": "JAK1 mutations and resistance", "split": "test"},
               {"_id": "q2", "text": "microbiome and immunotherapy response", "split": "test"},
               {"_id": "q3", "text": "steroids and checkpoint inhibitors", "split": "train"},
               {"_id": "q4", "text": "no judgement for this one", "split": "test"}]
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t1\n")
    return folder


def test_load_beir_keeps_judged_queries_of_the_split(tiny_beir):
    data = load_beir(tiny_beir, "test")
    assert sorted(data.queries) == ["q1", "q2"] and len(data.corpus) == 3
    assert data.corpus[2].title == "" and data.qrels["q1"] == {"d1": 1}
    with pytest.raises(AssistantError, match="not in the BEIR layout"):
        load_beir(tiny_beir.parent)


def test_eval_retrieval_cli_json(tiny_beir, capsys):
    assert main(["eval", "retrieval", "--data", str(tiny_beir), "--model", "hash:128", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["dataset"] == "tiny" and result["queries"] == 2
    assert set(result["methods"]) == {"bm25", "dense", "hybrid"}
    for scores in result["methods"].values():
        assert set(scores) >= {"ndcg@10", "recall@10", "recall@100", "mrr@10"}
    assert result["methods"]["bm25"]["ndcg@10"] == 1.0
    assert main(["eval", "retrieval", "--data", str(tiny_beir), "--model", "hash:128"]) == 0
    assert "hybrid" in capsys.readouterr().out


@pytest.mark.model
@pytest.mark.skipif(not (SHARED_EVAL / "pubmedqa").is_dir(), reason="../shared/eval/pubmedqa is not present")
def test_pubmedqa_hybrid_finds_the_questions_own_abstract(capsys):
    assert main(["eval", "retrieval", "--data", str(SHARED_EVAL / "pubmedqa"), "--method", "hybrid",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["queries"] == 500
    assert result["methods"]["hybrid"]["recall@1"] >= 0.95


def test_eval_answers_cli_scores_citations_against_gold_rationales(tiny_beir, capsys):
    corpus = [{"_id": "d1", "title": "JAK1 loss", "text": "JAK1 mutations cause resistance to PD-1 blockade. "
               "Tumours were sequenced.", "sentences": ["JAK1 mutations cause resistance to PD-1 blockade.",
                                                        "Tumours were sequenced."]},
              {"_id": "d2", "title": "Gut bacteria", "text": "The microbiome shapes response to immunotherapy."}]
    with gzip.open(tiny_beir / "corpus.jsonl.gz", "wt") as handle:
        handle.writelines(json.dumps(d) + "\n" for d in corpus)
    queries = [{"_id": "q1", "text": "JAK1 mutations cause resistance to PD-1 blockade", "split": "test",
                "evidence": {"d1": {"label": "SUPPORT", "rationale_sentences": [[0]]}}},
               {"_id": "q2", "text": "microbiome shapes response to immunotherapy", "split": "test"}]
    (tiny_beir / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (tiny_beir / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    off = tiny_beir / "off.txt"
    off.write_text("What is the capital of Australia?\nHow do I bake bread?\n")
    assert main(["eval", "answers", "--data", str(tiny_beir), "--model", "hash:128", "--off-topic", str(off),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["engines"]["extractive"]
    assert result["questions"] == 2 and result["answer_rate"] == 1.0
    assert result["citation_precision_verifier"] == 1.0
    assert result["gold_citations"] >= 1 and result["citation_precision_gold"] is not None
    assert result["refusal_rate_off_topic"] == 1.0 and result["yes_no_maybe_accuracy"] is None
    assert result["cited_paper_precision"] == 1.0 and result["relevant_paper_cited"] == 1.0
    assert result["off_topic_padding"] == 0.0 and result["cited_papers_per_answer"] >= 1


def test_rouge_l_is_the_lcs_f1():
    from assistant.evaluate_answers import rouge_l
    assert rouge_l("the cat sat on the mat", "the cat sat on the mat") == 1.0
    # LCS "the cat the mat" (4 of 6 and 4 of 5 words)
    assert rouge_l("the cat sat on the mat", "the cat was the mat") == pytest.approx(2 * (4 / 6) * (4 / 5) / (4 / 6 + 4 / 5))
    assert rouge_l("", "anything") == 0.0
