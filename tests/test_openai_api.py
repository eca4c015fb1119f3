"""The OpenAI-compatible endpoint, driven by the official ``openai`` client against a running ``serve`` app: the
engines listed as models, streamed and whole answers with their citations, follow-ups that point at a source, and
errors in OpenAI's shape."""

import pytest

from conftest import served

from assistant import Answerer, Retriever, load_settings
from assistant.server import create_api

pytestmark = pytest.mark.model
QUESTION = "What is the role of TGF-beta in resistance to PD-L1 blockade?"


@pytest.fixture(scope="module")
def base_url(shipped_minilm_kb):
    answerer = Answerer(Retriever.load(shipped_minilm_kb), load_settings({}))
    with served(create_api(answerer)) as url:
        yield f"{url}/v1"


@pytest.fixture
def client(base_url):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=base_url, api_key="not-needed", max_retries=0, timeout=120)


def test_models_are_the_enabled_engines(client):
    assert [m.id for m in client.models.list()] == ["extractive"]


def test_a_whole_answer_has_numbered_references_and_structured_citations(client):
    response = client.chat.completions.create(model="extractive", messages=[{"role": "user", "content": QUESTION}])
    text = response.choices[0].message.content
    assert response.choices[0].finish_reason == "stop" and response.object == "chat.completion"
    assert "[1]" in text and "\nReferences\n" in text
    citations = response.model_extra["citations"]
    assert citations and citations[0]["n"] == 1 and citations[0]["quote"] and citations[0]["url"]
    assert citations[0]["title"] in text  # the reference list names the cited paper


def test_a_streamed_answer_is_the_same_answer(client):
    whole = client.chat.completions.create(model="extractive", messages=[{"role": "user", "content": QUESTION}])
    chunks = list(client.chat.completions.create(model="extractive", stream=True,
                                                 messages=[{"role": "user", "content": QUESTION}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert [c["title"] for c in chunks[-1].model_extra["citations"]] == \
        [c["title"] for c in whole.model_extra["citations"]]


def test_a_follow_up_reads_the_conversation(client):
    first = client.chat.completions.create(model="extractive", messages=[{"role": "user", "content": QUESTION}])
    reply = first.choices[0].message.content
    cited = first.model_extra["citations"][0]
    again = client.chat.completions.create(model="extractive", messages=[
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": reply},
        {"role": "user", "content": "tell me more about the first source"}])
    citations = again.model_extra["citations"]
    assert citations and all(c["id"] == cited["id"] for c in citations)  # the same paper, read again


def test_errors_come_in_openai_shape(client, base_url):
    import httpx
    import openai
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="extractive", messages=[])
    assert caught.value.status_code == 400 and "messages" in caught.value.message
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    assert "does not exist here" in caught.value.message
    raw = httpx.post(f"{base_url}/chat/completions", json={"messages": [{"role": "assistant", "content": "hi"}]})
    assert raw.status_code == 400 and set(raw.json()["error"]) == {"message", "type", "param", "code"}
    raw = httpx.post(f"{base_url}/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert raw.status_code == 400 and "not valid JSON" in raw.json()["error"]["message"]
