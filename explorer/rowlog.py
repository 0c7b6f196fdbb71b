"""Metrics rows, thinned evenly so a long run keeps a bounded number of them.

Two stores share one rule (:func:`kept`): :class:`RowLog`, a list of dicts (the training
loop's and the worker's rows for ``metrics.csv``, written whole at every save), and
:class:`RowColumns`, the same rows held as one array per metric (the server's copy of each
run it holds: ~90 bytes a row instead of ~760 as a dict), read back as dicts through
:class:`Rows`.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def kept(row: dict, stride: int) -> bool:
    """Whether a log thinned to ``stride`` keeps ``row``: one row in ``stride`` (those with
    ``(step - 1) % stride == 0``), and every epoch-end row (those with validation columns)."""
    return "val_elbo" in row or (int(row["step"]) - 1) % stride == 0


class RowLog:
    """Metrics rows thinned to at most ``max_rows``: a row is kept when
    ``(step - 1) % stride == 0``, and the stride doubles whenever the log is full.
    Epoch-end rows (those with validation columns) are always kept."""

    def __init__(self, max_rows: int, stride: int = 1):
        self.max_rows = max_rows
        self.stride = max(1, int(stride))
        self.rows: list[dict] = []

    def _keep(self, row: dict) -> bool:
        return kept(row, self.stride)

    def add(self, row: dict) -> None:
        if self._keep(row):
            self.rows.append(row)
        while len(self.rows) > self.max_rows and self.stride < 2**40:
            self.stride *= 2
            self.rows = [r for r in self.rows if self._keep(r)]


def _fits(col: np.ndarray, v) -> bool:
    """Whether ``v`` goes into ``col`` unchanged: a float into a float column, an int
    (not a bool) that int64 holds into an int column."""
    if col.dtype == np.float64:
        return isinstance(v, float)
    return type(v) is int and -2**63 <= v < 2**63


class RowColumns:
    """The rows of :class:`RowLog` (same rule, same thinning), stored as columns: one array
    per metric (float64, or int64 for integer metrics such as ``step``), each row's keys as
    an index into the key orders seen, and the rare value no column holds (text, a list,
    None, an int in a float column) in a dict of that row's extras. :attr:`rows` gives them
    back as dicts, equal to those added, in the same key order."""

    def __init__(self, max_rows: int, stride: int = 1):
        self.max_rows = max_rows
        self.stride = max(1, int(stride))
        self._n = 0
        self._cap = 0
        self._cols: dict[str, np.ndarray] = {}
        self._orders: list[tuple[str, ...]] = []       # the distinct key orders seen
        self._order_ids: dict[tuple[str, ...], int] = {}
        self._order = np.empty(0, np.int32)             # each row's key order
        self._extra: dict[int, dict] = {}               # row -> values no column holds

    def __len__(self) -> int:
        return self._n

    def _grow(self) -> None:
        cap = max(64, 2 * self._cap)
        self._order = np.resize(self._order, cap)
        for k, col in self._cols.items():
            new = np.zeros(cap, col.dtype)
            new[:self._n] = col[:self._n]
            self._cols[k] = new
        self._cap = cap

    def add(self, row: dict) -> None:
        if not kept(row, self.stride):
            return
        if self._n == self._cap:
            self._grow()
        i, keys = self._n, tuple(row)
        o = self._order_ids.get(keys)
        if o is None:
            o = self._order_ids[keys] = len(self._orders)
            self._orders.append(keys)
        self._order[i] = o
        extra = None
        for k, v in row.items():
            col = self._cols.get(k)
            if col is None and (isinstance(v, float) or type(v) is int):
                col = self._cols[k] = np.zeros(self._cap, np.float64 if isinstance(v, float) else np.int64)
            if col is not None and _fits(col, v):
                col[i] = v
            else:
                if extra is None:
                    extra = self._extra[i] = {}
                extra[k] = v
        self._n += 1
        while self._n > self.max_rows and self.stride < 2**40:
            self.stride *= 2
            self._thin()

    def _thin(self) -> None:
        """Keep the rows :func:`kept` keeps at the current stride, in new arrays (the copies
        :attr:`rows` gave out share the old ones: rows are only ever appended to an array)."""
        n = self._n
        val = np.array(["val_elbo" in keys for keys in self._orders], bool)[self._order[:n]]
        step = self._cols["step"][:n] if "step" in self._cols else np.ones(n)
        keep = val | ((step.astype(np.int64) - 1) % self.stride == 0)
        if "step" in self._cols:
            for i, e in self._extra.items():        # a step no column held
                if "step" in e:
                    keep[i] = kept(self.row(i), self.stride)
        idx = np.flatnonzero(keep)
        m = len(idx)
        self._order = np.concatenate([self._order[idx], np.zeros(self._cap - m, self._order.dtype)])
        for k, col in self._cols.items():
            self._cols[k] = np.concatenate([col[idx], np.zeros(self._cap - m, col.dtype)])
        new_at = np.cumsum(keep) - 1
        self._extra = {int(new_at[i]): e for i, e in self._extra.items() if keep[i]}
        self._n = m

    def row(self, i: int) -> dict:
        """Row ``i`` (0-based) as a dict."""
        return _row(i, self._orders, self._order, self._cols, self._extra)

    @property
    def rows(self) -> "Rows":
        """The rows kept now, as a read-only sequence of dicts (rows added later are not in
        it). It copies no values: a row's place in an array is written once (new rows go after
        it, a larger or thinned log takes new arrays), so it shares the arrays as they are."""
        n = self._n
        return Rows(list(self._orders), self._order[:n], {k: c[:n] for k, c in self._cols.items()},
                    dict(self._extra), n)


def _row(i: int, orders, order, cols, extra) -> dict:
    e = extra.get(i)
    out = {}
    for k in orders[order[i]]:
        out[k] = e[k] if e is not None and k in e else cols[k][i].item()
    return out


class Rows(Sequence):
    """Metrics rows read from :class:`RowColumns`: a sequence of dicts (``rows[i]``,
    ``rows[-1]``, a slice as a list, iteration), and :meth:`column` for one metric as an
    array without building the dicts."""

    def __init__(self, orders, order, cols, extra, n):
        self._orders, self._order, self._cols, self._extra, self._n = orders, order, cols, extra, n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError("row index out of range")
        return _row(i, self._orders, self._order, self._cols, self._extra)

    def __iter__(self):
        for i in range(self._n):
            yield _row(i, self._orders, self._order, self._cols, self._extra)

    def __repr__(self) -> str:
        return f"Rows({self._n} rows)"

    def column(self, key: str, default: float = np.nan) -> np.ndarray:
        """Metric ``key`` of every row as floats (``default`` where a row has none)."""
        out = np.full(self._n, default, dtype=float)
        if self._n == 0:
            return out
        has = np.array([key in keys for keys in self._orders], bool)[self._order]
        col = self._cols.get(key)
        if col is not None:
            out[has] = col[has]
        for i, e in self._extra.items():
            if key in e:
                try:
                    out[i] = float(e[key])
                except (TypeError, ValueError):
                    out[i] = default
        return out


def column(rows, key: str, default: float = np.nan) -> np.ndarray:
    """Metric ``key`` of ``rows`` (a :class:`Rows`, or any list of dicts) as floats,
    ``default`` where a row has none."""
    if isinstance(rows, Rows):
        return rows.column(key, default)
    return np.array([r.get(key, default) for r in rows], dtype=float)
