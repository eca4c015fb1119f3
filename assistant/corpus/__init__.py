"""Reading source records and turning them into papers: one reader module per format, plus merging."""

from .jsonl import read_corpus_dir, read_jsonl
from .merge import merge_records

__all__ = ["read_corpus_dir", "read_jsonl", "merge_records"]
