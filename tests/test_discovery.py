"""Engines found by themselves: a fake Ollama server on 127.0.0.1 is listed (CLI and web chat) and answers with
verified citations without any setting; a server given once in the configuration file works alike; what cannot
run is listed with the reason."""

import json
import re

import pytest
from click.testing import CliRunner

from assistant import Answerer, Retriever, load_settings
from assistant.answer.engines import engine_options, ollama_url
from assistant.cli import cli
from assistant.errors import ConfigError
from test_engines import FakeChatServer, kb  # noqa: F401  (kb is a fixture)

MODEL = "tiny-llama:latest"


def quote_first_source(body):
    """A well-behaved model: the first sentence of the source about JAK1, cited."""
    sources = body["messages"][-1]["content"]
    n = re.search(r'<source id="(\d+)">\nJAK1 and JAK2', sources).group(1)
    return f"Patients with JAK1 or JAK2 loss-of-function mutations did not respond to PD-1 blockade [{n}]."


@pytest.fixture
def ollama(monkeypatch):
    server = FakeChatServer(quote_first_source, models=(MODEL, "qwen2.5:0.5b"))
    monkeypatch.setenv("OLLAMA_HOST", server.url.removesuffix("/v1").removeprefix("http://"))
    yield server
    server.close()


def test_ollama_is_found_and_listed_by_the_engines_command(ollama):
    result = CliRunner().invoke(cli, ["engines"])
    assert result.exit_code == 0, result.output
    assert re.search(rf"^ollama:{re.escape(MODEL)} .* ready$", result.output, re.M), result.output
    listed = json.loads(CliRunner().invoke(cli, ["engines", "--json"]).output)
    assert {"ollama:tiny-llama:latest", "ollama:qwen2.5:0.5b"} <= {o["value"] for o in listed if o["ready"]}


def test_without_servers_the_engines_are_listed_unavailable_with_the_reason():
    result = CliRunner().invoke(cli, ["engines"])
    assert result.exit_code == 0
    assert "unavailable: no Ollama server answers at http://127.0.0.1:9" in result.output
    assert "unavailable: none configured (set openai_base_url in " in result.output
    assert re.search(r"^extractive .* ready$", result.output, re.M)


def test_a_discovered_ollama_model_answers_with_verified_citations(ollama, kb):  # noqa: F811
    settings = load_settings({"engine": f"ollama:{MODEL}", "min_score": 0.1})
    answer = Answerer(Retriever.load(kb), settings).answer("Do JAK1 or JAK2 mutations cause resistance to PD-1?")
    assert answer.engine == f"ollama:{MODEL}" and not answer.refused
    assert [c.record.id for c in answer.citations] == ["jak"]
    request = ollama.requests[-1]
    assert request["path"] == "/v1/chat/completions" and request["model"] == MODEL


def test_the_web_chat_offers_the_discovered_models(ollama, kb):  # noqa: F811
    pytest.importorskip("gradio")
    from assistant.ui import build_app
    app = build_app(Answerer(Retriever.load(kb), load_settings({"min_score": 0.1})), online=False)
    [menu] = [b for b in app.blocks.values() if getattr(b, "elem_id", None) == "cqa-engine"]
    values = [value for _, value in menu.choices]
    assert f"ollama:{MODEL}" in values and "openai" not in values


def test_a_server_in_the_configuration_file_needs_no_environment(monkeypatch, tmp_path):
    server = FakeChatServer(quote_first_source, models=("served-model",))
    try:
        config = tmp_path / "xdg-config" / "checkpoint-qa" / "config.toml"
        config.parent.mkdir(parents=True)
        config.write_text(f'openai_base_url = "{server.url}"\nk = 5\n')
        settings = load_settings()
        assert settings.openai_base_url == server.url and settings.k == 5
        ready = [o.value for o in engine_options(settings) if o.ready]
        assert "openai:served-model" in ready
        config.write_text('api_key = "sk-secret"\n')
        with pytest.raises(ConfigError, match="read from the environment only"):
            load_settings()
        config.write_text("colour = 'blue'\n")
        with pytest.raises(ConfigError, match="unknown setting 'colour'"):
            load_settings()
        config.write_text("k = [\n")
        with pytest.raises(ConfigError, match="cannot read the configuration file"):
            load_settings()
    finally:
        server.close()


@pytest.mark.parametrize("value, url", [("", "http://127.0.0.1:11434"), ("0.0.0.0:11500", "http://127.0.0.1:11500"),
                                        ("https://gpu-box:8443", "https://gpu-box:8443"),
                                        ("localhost", "http://localhost:11434")])
def test_ollama_host_is_read_as_ollama_reads_it(value, url):
    assert ollama_url({"OLLAMA_HOST": value}) == url


def test_prompts_follow_the_model_family():
    from assistant.answer.prompts import chat_messages, model_family
    sources = [(1, "JAK1 loss", "JAK1 loss abolished interferon signalling.")]
    assert model_family("gemma-3-1b-it-Q4_K_M.gguf") == "gemma" and model_family("Qwen2.5-0.5B-Instruct") == "qwen"
    folded = chat_messages("Does JAK1 loss matter?", sources, "gemma")
    assert [m["role"] for m in folded] == ["user"] and folded[0]["content"].startswith("You answer questions")
    assert [m["role"] for m in chat_messages("Does JAK1 loss matter?", sources, "qwen")] == ["system", "user"]
