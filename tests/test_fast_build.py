"""The OpenVINO document encoder: torch's vectors and rankings, chosen by default when installed, with a torch
fallback, a clear setting, and no network."""

import json
import subprocess
import sys

import numpy as np
import pytest

from assistant.config import load_settings
from assistant.encoders import SentenceTransformerEncoder, get_encoder
from assistant.errors import ConfigError, ModelError
from assistant.encoders.openvino import OpenVinoEncoder

from conftest import ROOT, SHIPPED

TEXTS = ["PD-1 resistance", "JAK1 loss-of-function mutations abolish interferon gamma signalling in melanoma",
         "Gut microbiome modulates the response to anti-PD-1 immunotherapy in epithelial tumours. " * 12, "B2M",
         "Tumour mutational burden predicts benefit from CTLA-4 blockade."]

QUESTIONS = ("How does loss of JAK1 cause resistance to PD-1 blockade?",
             "Does the gut microbiome change the response to immunotherapy?",
             "Which T cell exhaustion markers predict relapse?")


def dense_top5(one, other):
    """(question, top-5 (paper id, score) from index ``one``, from index ``other``) for each of QUESTIONS."""
    from assistant.retriever import Retriever
    first, second = (Retriever.load(settings=load_settings({"index": path})) for path in (one, other))
    return [(q, [(h.record.id, h.score) for h in first.search(q, k=5, mode="dense")],
             [(h.record.id, h.score) for h in second.search(q, k=5, mode="dense")]) for q in QUESTIONS]


def same_top(ours, theirs, n=3, tie=0.002):
    """Whether the top ``n`` papers come in the same order, two papers whose scores are within ``tie`` of each
    other in both rankings (a tie that bf16 rounding may break either way) counting as either order."""
    mine, other = dict(ours), dict(theirs)
    for (a, _), (b, _) in zip(ours[:n], theirs[:n]):
        if a != b and not (b in mine and a in other and abs(mine[a] - mine[b]) < tie
                           and abs(other[a] - other[b]) < tie):
            return False
    return True


def test_near_ties_may_swap_but_nothing_else():
    assert same_top([("a", 0.9), ("b", 0.6786), ("c", 0.678)], [("a", 0.9), ("c", 0.6777), ("b", 0.6774)])
    assert not same_top([("a", 0.9), ("b", 0.70), ("c", 0.60)], [("a", 0.9), ("c", 0.65), ("b", 0.64)])
    assert not same_top([("a", 0.9), ("b", 0.7)], [("a", 0.9), ("z", 0.7)])


def test_unknown_document_encoder_is_a_config_error():
    with pytest.raises(ConfigError, match="document_encoder must be auto, openvino or torch"):
        load_settings({"document_encoder": "tensorrt"})


def test_openvino_without_the_package_says_how_to_install(monkeypatch):
    import assistant.encoders.openvino as openvino_encoder
    monkeypatch.setattr(openvino_encoder, "openvino_available", lambda: False)
    with pytest.raises(ModelError, match=r"pip install 'checkpoint-qa\[fast\]'"):
        get_encoder(backend="openvino")
    assert isinstance(get_encoder(precision="fp32", backend="auto"), SentenceTransformerEncoder)


@pytest.mark.model
@pytest.mark.parametrize("precision, floor", [("fp32", 0.9999), ("bf16", 0.999)])
def test_openvino_vectors_match_torch_fp32(precision, floor):
    encoder = get_encoder(precision=precision)
    assert isinstance(encoder, OpenVinoEncoder) and encoder.precision == precision
    reference = SentenceTransformerEncoder(precision="fp32").encode_batch(TEXTS)
    vectors = encoder.encode_batch(TEXTS)  # lengths differ, so batches are sorted and padded
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float((vectors * reference).sum(axis=1).min()) > floor
    small = OpenVinoEncoder(encoder.name, encoder.location, precision, tokens_per_batch=40).encode_batch(TEXTS)
    assert float((small * vectors).sum(axis=1).min()) > 0.9999  # batching does not change a text's vector


@pytest.mark.model
def test_streamed_slices_keep_each_text_in_its_row(monkeypatch):
    import assistant.encoders.openvino as openvino_encoder
    from assistant.encoders import encode_in_batches
    encoder = get_encoder(precision="fp32")
    texts = TEXTS * 3 + ["PD-L1 amplification", "Interferon gamma"]
    alone = np.vstack([encoder.encode_batch([t]) for t in texts])
    monkeypatch.setattr(openvino_encoder, "SLICE_TEXTS", 4)  # 5 slices, queued without draining in between
    seen = []
    streamed = encoder.encode_all(texts, seen.append)
    assert seen == [4, 4, 4, 4, 1]
    assert float((streamed * alone).sum(axis=1).min()) > 0.9999
    assert float((encode_in_batches(encoder, texts, progress=True) * alone).sum(axis=1).min()) > 0.9999


def rank_alike(ours, theirs):
    """int8 against a float ranking: the same first paper and at least four of the same top five."""
    ours, theirs = [i for i, _ in ours], [i for i, _ in theirs]
    return ours[0] == theirs[0] and len(set(ours) & set(theirs)) >= 4


@pytest.mark.model
def test_a_build_records_the_backend_and_precision_and_ranks_like_torch(tmp_path, shipped_minilm_kb):
    from assistant.encoders import cpu_has_int8_dot, resolve_precision
    from assistant.pipeline import build_knowledge_base
    from assistant.kb.store import KnowledgeBase

    fast = KnowledgeBase.load(shipped_minilm_kb)
    assert fast.manifest["encoder_backend"] == "openvino"
    assert fast.manifest["precision"] == ("int8" if cpu_has_int8_dot() else resolve_precision("auto"))
    settings = load_settings({"corpus": SHIPPED, "index": tmp_path / "torch-kb", "document_encoder": "torch"})
    build_knowledge_base(settings=settings)
    slow = KnowledgeBase.load(tmp_path / "torch-kb")
    assert slow.manifest["encoder_backend"] == "torch"
    assert slow.manifest["precision"] == resolve_precision("auto")
    alike = rank_alike if fast.manifest["precision"] == "int8" else same_top
    for question, ours, theirs in dense_top5(shipped_minilm_kb, tmp_path / "torch-kb"):
        assert alike(ours, theirs), (question, ours, theirs)


@pytest.mark.model
def test_auto_is_int8_only_where_the_cpu_has_int8_dot_products(monkeypatch):
    import assistant.encoders as encoders
    from assistant.encoders import resolve_precision
    for has_it, expected in ((True, "int8"), (False, resolve_precision("auto"))):
        monkeypatch.setattr(encoders, "cpu_has_int8_dot", lambda: has_it)
        encoder = get_encoder()
        assert isinstance(encoder, OpenVinoEncoder) and encoder.precision == expected
    assert get_encoder(precision="bf16").precision == "bf16"  # a precision asked for is the one used


@pytest.mark.model
def test_auto_falls_back_to_torch_when_openvino_cannot_prepare_the_model(monkeypatch, tmp_path, caplog):
    import assistant.encoders.onnx as onnx_encoder
    from assistant.encoders import packaged_minilm_path

    def refuse(location, target):
        raise ModelError("the ONNX export supports Transformer + Pooling models, not Transformer + Dense")
    monkeypatch.setattr(onnx_encoder, "export", refuse)
    model = tmp_path / "custom-model"
    model.symlink_to(packaged_minilm_path(), target_is_directory=True)
    with caplog.at_level("WARNING", logger="assistant"):
        encoder = get_encoder(str(model), "fp32", backend="auto")
    assert isinstance(encoder, SentenceTransformerEncoder)
    assert "using the torch document encoder" in caplog.text
    with pytest.raises(ModelError, match="Transformer \\+ Dense"):
        get_encoder(str(model), "fp32", backend="openvino")


@pytest.mark.model
def test_building_opens_no_network_connection(tmp_path, session_cache):
    """OpenVINO's package ships a telemetry client; our use of it (read the ONNX file, compile, infer) must never
    reach for the network."""
    script = f"""
import json, socket, sys
attempts = []
def refuse(self, address):
    attempts.append(str(address))
    raise OSError("network disabled in this test")
socket.socket.connect = refuse
socket.create_connection = lambda address, *a, **k: refuse(None, address)
from assistant.pipeline import build_knowledge_base
build_knowledge_base(corpus={str(SHIPPED)!r}, index={str(tmp_path / 'kb')!r})
print(json.dumps(attempts), file=sys.stderr)
"""
    env = {"HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(session_cache), "HOME": str(tmp_path / "home"),
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []
    manifest = json.loads(next((tmp_path / "kb").glob("v-*/manifest.json")).read_text())
    assert manifest["encoder_backend"] == "openvino"


def test_precision_choices_are_checked():
    assert load_settings({"precision": "int8"}).precision == "int8"
    with pytest.raises(ConfigError, match="precision must be auto, fp32, bf16 or int8"):
        load_settings({"precision": "int4"})


def test_int8_needs_openvino(monkeypatch):
    import assistant.encoders.openvino as openvino_encoder
    with pytest.raises(ModelError, match="int8 encoding needs the OpenVINO document encoder") as err:
        get_encoder(precision="int8", backend="torch")
    assert "\n" not in str(err.value)
    monkeypatch.setattr(openvino_encoder, "openvino_available", lambda: False)
    with pytest.raises(ModelError, match=r"pip install 'checkpoint-qa\[fast\]'"):
        get_encoder(precision="int8")


@pytest.mark.model
def test_int8_vectors_stay_close_to_fp32_and_rank_alike(tmp_path):
    from assistant.pipeline import build_knowledge_base
    from assistant.encoders.quantize import INT8_FILE
    from assistant.kb.store import KnowledgeBase

    encoder = get_encoder(precision="int8")
    assert isinstance(encoder, OpenVinoEncoder) and encoder.precision == "int8"
    reference = SentenceTransformerEncoder(precision="fp32").encode_batch(TEXTS)
    assert float((encoder.encode_batch(TEXTS) * reference).sum(axis=1).min()) > 0.99
    from assistant.encoders.onnx import export_dir
    assert (export_dir(encoder.location) / INT8_FILE).is_file()

    for precision in ("int8", "fp32"):
        build_knowledge_base(settings=load_settings({"corpus": SHIPPED, "index": tmp_path / precision,
                                                     "precision": precision}))
    assert KnowledgeBase.load(tmp_path / "int8").manifest["precision"] == "int8"
    for question, ours, theirs in dense_top5(tmp_path / "int8", tmp_path / "fp32"):
        assert rank_alike(ours, theirs), (question, ours, theirs)


@pytest.mark.model
def test_a_damaged_int8_model_is_made_again():
    from assistant.encoders.onnx import export_dir
    from assistant.encoders.quantize import INT8_FILE
    first = get_encoder(precision="int8")
    first.encode_batch(TEXTS[:1])
    damaged = export_dir(first.location) / INT8_FILE
    damaged.write_bytes(damaged.read_bytes()[:1000])  # as if the disk filled up mid-write
    again = OpenVinoEncoder(first.name, first.location, "int8")
    assert float(again.encode_batch(TEXTS[:1])[0] @ first.encode_batch(TEXTS[:1])[0]) > 0.9999
    assert damaged.stat().st_size > 1_000_000


def test_openvino_batches_are_length_sorted_and_within_the_token_budget():
    from assistant.encoders.openvino import WIDTH_STEP
    encoder = OpenVinoEncoder("m", "/nowhere", "fp32", tokens_per_batch=100)  # batching needs no model
    lengths = [30, 5, 120, 7, 30, 12, 60, 5, 31, 9, 99]
    batches = encoder.batches(lengths)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    flat = [lengths[i] for batch in batches for i in batch]
    assert flat == sorted(lengths)
    for batch in batches:
        width = -(-max(lengths[i] for i in batch) // WIDTH_STEP) * WIDTH_STEP  # as padded
        assert len(batch) == 1 or len(batch) * width <= 100
    assert [lengths[i] for i in batches[-1]] == [120]  # too long for the budget: a batch of its own
    assert len(batches) < len(lengths)  # short texts share batches
    query = OpenVinoEncoder("m", "/nowhere", "fp32", tokens_per_batch=100, latency=True)
    assert query.width_step == 1 and [len(b) for b in query.batches([7, 7, 7])] == [3]


def test_padded_widths_round_up_to_the_step():
    from assistant.encoders.onnx import token_arrays

    class Encoding:
        def __init__(self, n):
            self.ids, self.attention_mask, self.type_ids = list(range(1, n + 1)), [1] * n, [0] * n
    arrays = token_arrays(["input_ids", "attention_mask"], [Encoding(3), Encoding(9)], multiple=8)
    assert arrays["input_ids"].shape == (2, 16)
    assert arrays["attention_mask"].sum(axis=1).tolist() == [3, 9]  # the padding is masked
    assert token_arrays(["input_ids", "attention_mask"], [Encoding(9)])["input_ids"].shape == (1, 9)
