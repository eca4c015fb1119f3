"""How many tokens an encoder reads, and how to count them, so passages can be cut to fit.

Design: a transformer encoder silently drops what lies past its token limit (256 word pieces for
all-MiniLM-L6-v2), and a window of 150 words plus its title passes that limit in about a fifth of SciFact's
passages. The encoder knows its tokenizer and limit; ``passages`` only needs a counter, so an encoder hands out a
``TokenBudget`` built from its tokenizer (``tokenizers.Tokenizer``, the Rust tokenizer both the torch and the
exported encoders use), and encoders without one (the hashing test encoder) hand out none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence


@dataclass(frozen=True)
class TokenBudget:
    limit: int  # tokens the model reads, its special tokens included
    reserved: int  # special tokens the tokenizer adds to every text ([CLS] and [SEP] for BERT)
    count: Callable[[Sequence[str]], list[int]]  # tokens of each text, special tokens left out

    @property
    def room(self) -> int:
        """Tokens left for a passage's own text."""
        return self.limit - self.reserved


def budget_from_tokenizer(tokenizer, limit: int) -> TokenBudget:
    """A budget counting with a copy of ``tokenizer`` (a ``tokenizers.Tokenizer``) that neither truncates nor
    pads, whatever the original is set to."""
    from tokenizers import Tokenizer

    counter = Tokenizer.from_str(tokenizer.to_str())
    counter.no_truncation()
    counter.no_padding()
    batch = getattr(counter, "encode_batch_fast", counter.encode_batch)

    def count(texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in batch(list(texts), add_special_tokens=False)] if texts else []

    return TokenBudget(limit, len(counter.encode("").ids), count)
