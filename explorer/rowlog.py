"""Metrics rows, thinned evenly so a long run keeps a bounded number of them."""
from __future__ import annotations


class RowLog:
    """Metrics rows thinned to at most ``max_rows``: a row is kept when
    ``(step - 1) % stride == 0``, and the stride doubles whenever the log is full.
    Epoch-end rows (those with validation columns) are always kept."""

    def __init__(self, max_rows: int, stride: int = 1):
        self.max_rows = max_rows
        self.stride = max(1, int(stride))
        self.rows: list[dict] = []

    def _keep(self, row: dict) -> bool:
        return "val_elbo" in row or (int(row["step"]) - 1) % self.stride == 0

    def add(self, row: dict) -> None:
        if self._keep(row):
            self.rows.append(row)
        while len(self.rows) > self.max_rows and self.stride < 2**40:
            self.stride *= 2
            self.rows = [r for r in self.rows if self._keep(r)]
