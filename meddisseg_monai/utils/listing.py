"""Lists in error messages: one item a line, the first ``limit`` shown and the rest counted."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["MAX_LISTED", "listing"]

#: how many items an error message shows before "... and N more"
MAX_LISTED = 20


def listing(items: Sequence[str], indent: str = "  ", limit: int = MAX_LISTED) -> str:
    """``"\\n<indent>item"`` for each of the first ``limit`` items, then ``"\\n<indent>... and N more"``; ``""`` when
    there are none."""
    lines = [f"\n{indent}{item}" for item in items[:limit]]
    if len(items) > limit:
        lines.append(f"\n{indent}... and {len(items) - limit} more")
    return "".join(lines)
