"""Rows appended to a live run's ``metrics.csv`` (a tracked loop's, :mod:`explorer.tracking`).

The run's other files are replaced whole and atomically; a tracked loop's metrics grow by a
few rows a second for hours, so they are appended instead: the new rows as complete lines,
in one ``write`` on a file opened for appending. A reader may catch the last line half
written: :func:`explorer.store.read_metrics` ignores a last line without its newline.
"""
from __future__ import annotations

import os
from pathlib import Path

from .paths import SaveError


def csv_lines(columns: tuple[str, ...], rows: list[dict]) -> str:
    """Rows as CSV lines in ``columns``' order (absent values empty; numbers only)."""
    return "".join(",".join("" if r.get(c) is None else repr(r[c]) for c in columns) + "\n" for r in rows)


def append_rows(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    data = csv_lines(columns, rows).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as e:
        raise SaveError(e.errno, f"could not append to {Path(path).name} in {Path(path).parent} "
                                 f"({e.strerror or e}); the rows before are kept") from e
