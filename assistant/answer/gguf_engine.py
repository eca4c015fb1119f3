"""GGUF models in process with llama.cpp (llama-cpp-python): the packaged Gemma 3 270M or any ``.gguf`` path.

llama.cpp reads the quantised weights as they are (memory-mapped), so a start takes a fraction of a second where
the transformers path de-quantises every tensor (``local.LocalEngine``). Threads are the machine's cores; the context
is ``N_CTX`` tokens and the sources are cut to fit it with room for the answer. A GGUF that carries a chat template
(instruction-tuned models) is prompted with the chat messages of ``prompts`` (system turn folded into the user turn
for families whose templates have none); a base model (the packaged Gemma) gets the per-source few-shot prompt and
the engine cites each sentence's source. Generation is greedy and streamed (an empty piece per token while a
sentence is not finished); closing the stream (Stop in the web chat) stops llama.cpp at the next token.
``tokens`` counts generated tokens, so tests can see generation stop.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import ModelError
from ..types import Hit
from .local import PACKAGED, STOP, first_line, one_sentence_per_source, packaged_gguf
from .openai_compat import source_triples
from .prompts import REWRITE, chat_messages, model_family

N_CTX = 4096
ANSWER_TOKENS = 400


def installed() -> bool:
    from importlib.util import find_spec
    return find_spec("llama_cpp") is not None


def is_gguf(model: str | None) -> bool:
    """Whether ``model`` (``None`` for the packaged Gemma) is a GGUF file llama.cpp can run."""
    return model in (None, PACKAGED) or str(model).lower().endswith(".gguf")


class LlamaCppEngine:
    name = "local"
    backend = "llama.cpp"
    load_note = "about a second"

    def __init__(self, model: str | None = None, max_new_tokens: int = 160, threads: int | None = None):
        if not is_gguf(model):
            raise ModelError(f"llama.cpp runs GGUF files; {model!r} is not one (give a .gguf path, or use "
                             "--engine transformers for a model folder)")
        self.model_name = model or PACKAGED
        self.max_new_tokens = max_new_tokens
        self.threads = threads or os.cpu_count() or 1
        self._llm = None
        self.chat = False
        self.family = ""
        self.tokens = 0
        self.load_seconds = 0.0

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def _path(self) -> str:
        if self.model_name == PACKAGED:
            return str(Path(*packaged_gguf()))
        path = Path(self.model_name).expanduser()
        if not path.is_file():
            raise ModelError(f"no GGUF file at {path}; give the path of a .gguf model with --llm")
        return str(path)

    def _load(self) -> None:
        if self._llm is not None:
            return
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ModelError("llama.cpp is not installed: in a checkout run `make llama`, elsewhere pip install "
                             "'checkpoint-qa[llama]' (it compiles llama.cpp once: minutes)") from None
        path = self._path()
        label = "Gemma 3 270M" if self.model_name == PACKAGED else Path(path).name
        print(f"loading {label} with llama.cpp ({self.threads} threads)…", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            self._llm = Llama(model_path=path, n_ctx=N_CTX, n_threads=self.threads, n_threads_batch=self.threads,
                              verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"llama.cpp cannot load {path} ({str(exc).splitlines()[0][:160]})") from None
        self.load_seconds = time.perf_counter() - started
        print(f"loaded {label} in {self.load_seconds:.1f} s", file=sys.stderr, flush=True)
        template = (self._llm.metadata or {}).get("tokenizer.chat_template", "")
        self.chat = bool(template) and self.model_name != PACKAGED  # the packaged Gemma is a base model
        self.family = model_family(f"{Path(path).name} {template[:2000]}")

    def _complete(self, prompt: str, max_tokens: int, stop: Sequence[str] = STOP) -> Iterator[str]:
        for chunk in self._llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, top_k=1,
                                                 repeat_penalty=1.15, stop=list(stop), stream=True):
            self.tokens += 1
            text = chunk["choices"][0].get("text") or ""
            if text:
                yield text

    def _chat(self, messages: list[dict], max_tokens: int) -> Iterator[str]:
        for chunk in self._llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0,
                                                      top_k=1, stream=True):
            self.tokens += 1
            text = chunk["choices"][0].get("delta", {}).get("content") or ""
            if text:
                yield text

    def fitted_messages(self, question: str, sources: Sequence[Hit]) -> list[dict]:
        """The chat messages with as many sources as fit the context next to an answer of ``ANSWER_TOKENS``."""
        triples = source_triples(sources)
        while True:
            messages = chat_messages(question, triples, self.family)
            used = len(self._llm.tokenize("\n".join(m["content"] for m in messages).encode("utf-8"), special=True))
            if used + ANSWER_TOKENS + 64 <= N_CTX or len(triples) <= 1:
                return messages
            triples = triples[:-1]

    def generate(self, question: str, sources: Sequence[Hit], query_vector=None) -> Iterator[str]:
        self._load()
        if self.chat:
            yield from self._chat(self.fitted_messages(question, sources), ANSWER_TOKENS)
            return
        yield from one_sentence_per_source(question, sources, lambda prompt: self._complete(prompt, 60))

    def rewrite(self, conversation: str) -> str:
        self._load()
        return first_line("".join(self._complete(REWRITE.format(conversation=conversation), 60)))
