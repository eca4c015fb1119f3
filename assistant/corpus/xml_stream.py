"""XML read as a stream of closing elements, for the readers that keep one record in memory at a time.

``iterparse`` reads ahead: when an element's end event arrives, the siblings after it may already hang under the
root. So whether an element is a child of the root is told by its depth, counted from the events (which come in
document order), never by looking at the root's children; and clearing the root after each record only detaches
siblings read ahead, whose own events still follow.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Iterator
from xml.etree import ElementTree as ET

from .records import Rejected


def closed_elements(handle: BinaryIO) -> Iterator[tuple[ET.Element, ET.Element, int]]:
    """``(root, element, depth)`` as each element's closing tag is read; the root is depth 0."""
    depth, root = 0, None
    for event, element in ET.iterparse(handle, events=("start", "end")):
        if root is None:
            root = element
        if event == "start":
            depth += 1
            continue
        depth -= 1
        yield root, element, depth


def local_name(tag) -> str:
    """A tag without its namespace (``{uri}article`` -> ``article``)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def malformed(path: Path, error: ET.ParseError) -> Rejected:
    """The rejection for XML the parser stopped on, naming line and column."""
    line, column = error.position
    return Rejected(f"{path.name}:{line}", f"malformed XML ({getattr(error, 'msg', error)}, column {column + 1})")
