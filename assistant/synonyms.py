"""The synonym table (data, not code) and query expansion.

The table is a text file of groups, one a line, names separated by ``|``. A query that contains a name of a group
(matched as a run of primary tokens) gets the group's single-word names added; multi-word names are only
triggers, since adding their generic words ("cell", "protein") would blur the query. A group is also an entity
that an answer checks its sources for (``key``), unless its line starts with ``~`` (vocabulary such as lay wording).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .analysis import analyse, primary_tokens
from .errors import ConfigError

DEFAULT_TABLE = Path(__file__).with_name("data") / "synonyms.txt"


class SynonymTable:
    def __init__(self, groups: list[list[str]], key: list[bool] | None = None):
        self.groups = groups
        self.key = key if key is not None else [True] * len(groups)
        # triggers by first token, as (order in the table, tokens, group): a query looks up only its own tokens
        self._triggers: dict[str, list[tuple[int, tuple[str, ...], int]]] = {}
        self._singles: list[list[str]] = []
        count = 0
        for g, names in enumerate(groups):
            singles = []
            for name in names:
                words = analyse(name)
                primaries = tuple(w[0] for w in words)
                if primaries:
                    self._triggers.setdefault(primaries[0], []).append((count, primaries, g))
                    count += 1
                if len(words) == 1:
                    singles += words[0]
            self._singles.append(list(dict.fromkeys(singles)))

    @classmethod
    def load(cls, path: str | Path | None = None) -> "SynonymTable":
        path = Path(path) if path else DEFAULT_TABLE
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read synonym table {path} ({exc}); fix the file or unset "
                              "CHECKPOINT_QA_SYNONYMS") from None
        groups, key = [], []
        for number, line in enumerate(lines, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            vocabulary = line.startswith("~")
            names = [n.strip() for n in line.lstrip("~").split("|") if n.strip()]
            if len(names) < 2:
                raise ConfigError(f"{path}:{number}: a synonym group needs at least two names separated by '|'")
            groups.append(names)
            key.append(not vocabulary)
        return cls(groups, key)

    def matched_groups(self, query: str) -> list[int]:
        """Groups with a name in the query, in the table's order."""
        return list(dict.fromkeys(group for group, _, _ in self.matches(query)))

    def matches(self, query: str) -> list[tuple[int, int, int]]:
        """``(group, first, end)`` for each name found in the query, as positions in its primary tokens."""
        primaries = primary_tokens(query)
        found = sorted({(order, group, i, i + len(trigger)) for i, token in enumerate(primaries)
                        for order, trigger, group in self._triggers.get(token, ())
                        if tuple(primaries[i:i + len(trigger)]) == trigger})
        return [(group, first, end) for _, group, first, end in found]

    def concepts(self, query: str) -> list[frozenset[str]]:
        """One set of tokens per word of the query: the word's own, plus those of each synonym group naming it
        (a match on any of them is a match on that word)."""
        words = [set(w) for w in analyse(query)]
        for group, first, end in self.matches(query):
            for i in range(first, min(end, len(words))):
                words[i] |= set(self._singles[group])
        return [frozenset(w) for w in words]

    def names(self, group: int) -> list[tuple[str, ...]]:
        """Each name of a group as its primary tokens."""
        return [tuple(w[0] for w in analyse(name)) for name in self.groups[group]]

    def expansion(self, query: str) -> list[str]:
        """Tokens to add to the query's own, each once."""
        return list(dict.fromkeys(t for g in self.matched_groups(query) for t in self._singles[g]))


@lru_cache(maxsize=8)
def load_table(path: str | None = None) -> SynonymTable:
    return SynonymTable.load(path)
