"""Adapters for the frameworks people build with: ``langchain`` (a ``langchain-core`` retriever) and
``llama_index`` (a ``llama-index-core`` retriever). Each imports its framework when it is imported, and nothing
else in the package imports them, so neither framework is needed unless it is used."""
