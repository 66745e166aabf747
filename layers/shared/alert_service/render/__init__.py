"""Channel layouts: each module turns a ``View`` into one channel's payload."""

ELLIPSIS = "…"


def truncate(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, the last one an ellipsis when anything was cut."""
    return value if len(value) <= limit else value[: limit - 1] + ELLIPSIS


def one_line(text: str, limit: int) -> str:
    """Whitespace (newlines included) folded to single spaces, then ``truncate``: for table cells
    and one-line reports."""
    return truncate(" ".join(text.split()), limit)
