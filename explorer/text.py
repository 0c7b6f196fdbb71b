"""Small wording helpers for messages a person reads."""
import re


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``count(1, "run")`` → "1 run", ``count(3, "run")`` → "3 runs"."""
    return f"{n:g} {noun if n == 1 else (plural or noun + 's')}"


def md(text: str) -> str:
    """User text (run names, file names, sweep names) shown in Markdown without being read as
    Markdown: every character Markdown gives a meaning to is escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", str(text))
