"""One error base, a few subclasses; every message is one line that says what to do next.

Front ends print ``str(error)`` and exit non-zero; nothing here carries a traceback to the user.
"""


class AssistantError(Exception):
    """Base class of every error the library raises on bad input or state."""


class CorpusError(AssistantError):
    """A source file or record is malformed (the message names file and line)."""


class ConfigError(AssistantError):
    """A setting is unknown or has a bad value."""


class IndexMissingError(AssistantError):
    """No built knowledge base where one was expected."""


class IndexMismatchError(AssistantError):
    """A knowledge base was built with another model or format than the one asked for."""


class ModelError(AssistantError):
    """An encoder or language model could not be loaded."""
