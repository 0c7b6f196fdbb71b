"""Small wording helpers for messages a person reads."""


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``count(1, "run")`` → "1 run", ``count(3, "run")`` → "3 runs"."""
    return f"{n:g} {noun if n == 1 else (plural or noun + 's')}"
