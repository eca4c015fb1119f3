"""The fast query encoders (the ONNX export in OpenVINO or ONNX Runtime): same vectors and rankings as torch,
exported once, and a search process without torch."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from assistant.config import load_settings
from assistant.encoders import HashingEncoder, SentenceTransformerEncoder, get_query_encoder, packaged_minilm_path
from assistant.errors import ConfigError, ModelError
from assistant.encoders.onnx import prepared, read_export
from assistant.retriever import Retriever

TEXTS = ["PD-1 resistance", "JAK1 loss-of-function mutations abolish interferon gamma signalling in melanoma",
         "Gut microbiome modulates the response to anti-PD-1 immunotherapy in epithelial tumours. " * 6, "B2M"]


def test_unknown_query_encoder_is_a_config_error():
    with pytest.raises(ConfigError, match="query_encoder must be auto, openvino, onnx or torch"):
        load_settings({"query_encoder": "tensorrt"})


def test_hash_models_ignore_the_query_encoder_choice():
    assert isinstance(get_query_encoder("hash:64", backend="onnx"), HashingEncoder)


def test_onnx_without_onnxruntime_says_how_to_install(monkeypatch):
    import assistant.encoders.onnx as onnx_encoder
    monkeypatch.setattr(onnx_encoder, "onnx_available", lambda: False)
    with pytest.raises(ModelError, match=r"pip install 'checkpoint-qa\[fast\]'"):
        get_query_encoder("all-MiniLM-L6-v2", backend="onnx")


def test_openvino_query_encoder_without_the_package(monkeypatch):
    import assistant.encoders.openvino as openvino_encoder
    monkeypatch.setattr(openvino_encoder, "openvino_available", lambda: False)
    with pytest.raises(ModelError, match=r"openvino query encoder needs openvino; run: pip install"):
        get_query_encoder("all-MiniLM-L6-v2", backend="openvino")
    assert get_query_encoder("all-MiniLM-L6-v2", backend="auto").backend == "onnx"  # the next fast runtime


@pytest.mark.model
def test_openvino_is_the_default_query_encoder_and_its_compiled_model_is_cached():
    from assistant.encoders import resolve_precision
    from assistant.encoders.onnx import export_dir
    from assistant.encoders.openvino import OpenVinoEncoder
    encoder = get_query_encoder()
    assert isinstance(encoder, OpenVinoEncoder) and encoder.latency
    assert encoder.precision == resolve_precision("auto") and get_query_encoder(precision="int8") is encoder
    torch_vectors = SentenceTransformerEncoder(precision="fp32").encode_batch(TEXTS)
    vectors = encoder.encode_batch(TEXTS)
    assert vectors.shape == (4, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (vectors * torch_vectors).sum(axis=1).min() > 0.999
    assert float(encoder.encode_batch(TEXTS[:1])[0] @ vectors[0]) > 0.9999  # alone or in a batch, one vector
    cache = export_dir(encoder.location) / "openvino-cache"
    OpenVinoEncoder(encoder.name, encoder.location, encoder.precision, latency=True).dimension  # compiles, if needed
    blobs = sorted(cache.iterdir())
    assert blobs  # the next process loads the compiled model instead of compiling it
    again = OpenVinoEncoder(encoder.name, encoder.location, encoder.precision, latency=True)
    assert float(again.encode_batch(TEXTS[:1])[0] @ vectors[0]) > 0.9999
    assert sorted(cache.iterdir()) == blobs
    blob = blobs[0]
    size = blob.stat().st_size
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes()[:5000])  # a cut-off cache: OpenVINO compiles again and rewrites it
    third = OpenVinoEncoder(encoder.name, encoder.location, encoder.precision, latency=True)
    assert float(third.encode_batch(TEXTS[:1])[0] @ vectors[0]) > 0.9999
    assert blob.stat().st_size > size // 2  # whole again


@pytest.mark.model
def test_onnx_vectors_match_torch_fp32_and_the_export_is_reused():
    from assistant.encoders.onnx import export_dir
    onnx = get_query_encoder(backend="onnx")
    assert onnx.backend == "onnx" and onnx.name == "all-MiniLM-L6-v2" and onnx.dimension == 384
    folder = export_dir(onnx.location)
    exported_at = (folder / "model.onnx").stat().st_mtime_ns
    torch_vectors = SentenceTransformerEncoder(precision="fp32").encode_batch(TEXTS)
    onnx_vectors = onnx.encode_batch(TEXTS)  # one padded batch of very different lengths
    assert onnx_vectors.shape == (4, 384) and onnx_vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(onnx_vectors, axis=1), 1.0, atol=1e-5)
    assert (onnx_vectors * torch_vectors).sum(axis=1).min() > 0.9999
    single = onnx.encode_batch(TEXTS[:1])[0]
    assert float(single @ onnx_vectors[0]) > 0.99999  # padding does not change a text's vector
    from assistant.encoders.onnx import OnnxEncoder
    OnnxEncoder(onnx.name, onnx.location).encode_batch(["again"])  # a new process-level encoder: no re-export
    assert (folder / "model.onnx").stat().st_mtime_ns == exported_at


@pytest.mark.model
@pytest.mark.parametrize("backend", ["openvino", "onnx"])
def test_fast_and_torch_query_encoders_rank_the_same(shipped_minilm_kb, backend):
    for query in ("JAK1 JAK2 loss of function", "gut microbiome and anti-PD-1 response", "TGF-beta exclusion"):
        rankings = {}
        for chosen in (backend, "torch"):
            settings = load_settings({"index": shipped_minilm_kb, "query_encoder": chosen, "precision": "fp32"})
            retriever = Retriever.load(settings=settings)
            assert retriever.encoder.backend == chosen
            rankings[chosen] = [(h.record.id, h.score) for h in retriever.search(query, k=8)]
        assert [i for i, _ in rankings[backend]] == [i for i, _ in rankings["torch"]]
        assert np.allclose([s for _, s in rankings[backend]], [s for _, s in rankings["torch"]], atol=1e-4)


@pytest.mark.model
def test_search_process_never_imports_torch(shipped_minilm_kb):
    # the export must be in this test's cache: the session's model fixtures may have loaded theirs elsewhere
    prepared(str(packaged_minilm_path()), read_export, "query encoder", "")
    code = ("import sys, json; from assistant.cli import main; "
            f"rc = main(['search', 'PD-1 resistance', '--json', '--index', {str(shipped_minilm_kb)!r}]); "
            "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'gradio') if m in sys.modules]; "
            "print(json.dumps(heavy), file=sys.stderr); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []
    hits = json.loads(done.stdout)
    assert hits and hits[0]["rank"] == 1


def test_auto_falls_back_to_torch_when_the_model_cannot_be_exported(monkeypatch, tmp_path, caplog):
    import assistant.encoders.onnx as onnx_encoder
    from assistant.encoders import SentenceTransformerEncoder

    attempts = []

    def refuse(location, target):
        attempts.append(location)
        raise ModelError("the ONNX query encoder supports Transformer + Pooling models, not Transformer + Dense")
    monkeypatch.setattr(onnx_encoder, "export", refuse)
    model = tmp_path / "custom-model"
    model.symlink_to(packaged_minilm_path(), target_is_directory=True)  # a model torch loads but we "cannot" export
    with caplog.at_level("WARNING", logger="assistant"):
        encoder = get_query_encoder(str(model), backend="auto")
    assert isinstance(encoder, SentenceTransformerEncoder) and encoder.name == str(model)
    assert get_query_encoder(str(model), backend="auto") is encoder and len(attempts) == 1  # not tried again
    assert "using the torch query encoder" in caplog.text and "Dense" in caplog.text
    with pytest.raises(ModelError, match="Transformer \\+ Dense"):
        get_query_encoder(str(model), backend="onnx")
    caplog.clear()
    with caplog.at_level("WARNING", logger="assistant"), pytest.raises(ModelError, match="cannot load embedding"):
        get_query_encoder(str(tmp_path / "missing-model"), backend="auto")  # torch's own error, no fallback warning
    assert "using the torch" not in caplog.text


@pytest.mark.parametrize("backend", ["openvino", "onnx"])
def test_an_unwritable_cache_is_a_one_line_error(monkeypatch, tmp_path, backend):
    import assistant.encoders.onnx as onnx_encoder

    def denied(location, target):
        raise PermissionError(13, "Permission denied", str(target))
    monkeypatch.setattr(onnx_encoder, "export", denied)
    with pytest.raises(ModelError, match="CHECKPOINT_QA_QUERY_ENCODER=torch, or make that folder writable") as err:
        get_query_encoder(str(tmp_path / "other-model"), backend=backend)
    assert "\n" not in str(err.value)


@pytest.mark.model
def test_a_damaged_export_is_made_again():
    from assistant.encoders.onnx import OnnxEncoder, export_dir
    first = get_query_encoder(backend="onnx")
    model_file = export_dir(first.location) / "model.onnx"
    model_file.write_bytes(model_file.read_bytes()[:1000])  # as if the disk filled up mid-copy
    again = OnnxEncoder(first.name, first.location)
    assert float(again.encode_batch(TEXTS[:1])[0] @ first.encode_batch(TEXTS[:1])[0]) > 0.99999
    assert model_file.stat().st_size > 1_000_000
