"""Exact pricing: the column of largest reduced reward of each task, for given duals.

For duals ``pi >= 0`` on the (group, period) capacity rows, a column's reduced reward is its
reward minus the duals of the periods it occupies. Per mode, option combinations are taken in
decreasing order of a valid upper bound (contention-free reward minus, per op, the least
occupation cost of its option over all periods) in batches; each batch is solved exactly by a
dynamic program on the grid over the mode's in-tree (prefix minima, vectorised over the batch),
and the search stops once the next bound is not above the best value found (docs/cg.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from offload_opt.solvers.cg.grid import Column, ColumnSpace, ModeSpace

BATCH = 64


@dataclass
class Priced:
    """Result of pricing one task: the best reduced reward and the columns found."""

    value: float  # max over the task's column space of reward - pi . occupation (-inf: empty)
    columns: list[tuple[float, Column]]  # (reduced reward, column), best first
    evaluated: int  # option combinations solved by the dynamic program


class Pricer:
    """Occupation costs of every (group, duration) for one vector of duals, and the pricing DP."""

    def __init__(self, space: ColumnSpace, pi: np.ndarray):
        self.space = space
        self.pi = pi  # (G, H), >= 0
        self.prefix = np.concatenate([np.zeros((pi.shape[0], 1)), np.cumsum(pi, axis=1)], axis=1)
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self._tables: dict[tuple[int, int, int], np.ndarray] = {}

    def occupation_cost(self, group: int, n_periods: int) -> np.ndarray:
        """Cost of occupying ``n_periods`` from each start period (clipped at the horizon)."""
        key = (group, n_periods)
        got = self._cache.get(key)
        if got is None:
            h = self.space.horizon
            tau = np.arange(h)
            end = np.minimum(tau + n_periods, h)
            got = self.prefix[group, end] - self.prefix[group, tau]
            self._cache[key] = got
        return got

    def op_table(self, ms: ModeSpace, k: int) -> np.ndarray:
        """(options, H) occupation cost of op k on each option."""
        key = (ms.task, ms.mode, k)
        got = self._tables.get(key)
        if got is None:
            got = np.stack(
                [
                    self.occupation_cost(int(g), int(n))
                    for g, n in zip(ms.group[k], ms.n_periods[k], strict=True)
                ]
            )
            self._tables[key] = got
        return got

    def price_task(self, task: int, keep: int = 1, threshold: float = -np.inf) -> Priced:
        """Best reduced reward of ``task`` (exact) and up to ``keep`` of the best columns met on the way
        (one per option combination) whose reduced reward exceeds ``threshold``."""
        best = -np.inf
        found: list[tuple[float, Column]] = []
        evaluated = 0
        space = self.space
        obj = space.costs.objective
        wa, wl = obj.accuracy_weight, obj.latency_weight_per_s
        for ms in space.modes[task]:
            tables = [self.op_table(ms, k) for k in range(ms.n_ops)]
            ub = self.upper_bounds(ms, tables, wa, wl)
            order = np.argsort(-ub, kind="stable")
            pos = 0
            while pos < len(order):
                # combinations whose bound is not above the best value found cannot raise it
                if ub[order[pos]] <= best:
                    break
                rows = order[pos : pos + BATCH]
                rows = rows[ub[rows] > best]
                pos += BATCH
                values, periods = self._dp(ms, rows, tables, wa, wl)
                evaluated += len(rows)
                best = max(best, float(values.max()))
                for j in np.argsort(-values, kind="stable"):  # the batch's columns above threshold
                    v = float(values[j])
                    if not v > threshold or (len(found) >= keep and v <= found[-1][0]):
                        break
                    found.append((v, space.make_column(ms, int(rows[j]), periods(int(j)))))
                    found.sort(key=lambda x: -x[0])
                    del found[keep:]
        return Priced(best, found, evaluated)

    def combination_values(self, ms: ModeSpace, rows: np.ndarray | None = None) -> np.ndarray:
        """Exact best reduced reward of each combination in ``rows`` (all: None) of ``ms``,
        -inf where it has no column; the same dynamic program as ``price_task``."""
        obj = self.space.costs.objective
        wa, wl = obj.accuracy_weight, obj.latency_weight_per_s
        tables = [self.op_table(ms, k) for k in range(ms.n_ops)]
        rows = np.arange(ms.size) if rows is None else np.asarray(rows, dtype=np.int64)
        out = np.full(len(rows), -np.inf)
        for pos in range(0, len(rows), BATCH):
            out[pos : pos + BATCH] = self._dp(ms, rows[pos : pos + BATCH], tables, wa, wl)[0]
        return out

    def combination_bounds(self, ms: ModeSpace) -> np.ndarray:
        """The valid upper bound of ``upper_bounds`` for every combination of ``ms`` (cheap)."""
        obj = self.space.costs.objective
        tables = [self.op_table(ms, k) for k in range(ms.n_ops)]
        return self.upper_bounds(ms, tables, obj.accuracy_weight, obj.latency_weight_per_s)

    def upper_bounds(self, ms: ModeSpace, tables: list[np.ndarray], wa: float, wl: float) -> np.ndarray:
        """A valid upper bound on the best reduced reward of every combination of ``ms``.

        Every op but the final one pays at least its option's least occupation cost over all
        periods. The final op F couples its cost with the latency: for a start period T its
        share is ``w_l max(T g, h_F) + c_F(T)``, whose least value over T is the smaller of
        ``w_l h_F + min_{T g <= h_F} c_F(T)`` and ``min_{T g > h_F} (w_l T g + c_F(T))``
        (a prefix and a suffix minimum, read at ``floor(h_F / g)``).
        """
        space = self.space
        g, h = space.grid_s, space.horizon
        fin = ms.final_op
        r = space.costs.tasks[ms.task].release_s
        ub = wa * ms.quality - wl * (ms.final_dur_s + ms.out_s - r)
        for k in range(ms.n_ops):
            if k != fin:
                ub = ub - tables[k].min(axis=1)[ms.combos[:, k]]
        c = tables[fin]
        pre = np.minimum.accumulate(c, axis=1)
        suf = np.minimum.accumulate((c + wl * g * np.arange(h)[None, :])[:, ::-1], axis=1)[:, ::-1]
        suf = np.concatenate([suf, np.full((c.shape[0], 1), np.inf)], axis=1)
        o = ms.combos[:, fin]
        hf = ms.head_s[:, fin]
        j = np.clip(np.floor(hf / g).astype(np.int64), 0, h - 1)
        return ub - np.minimum(wl * hf + pre[o, j], suf[o, j + 1])

    def _dp(self, ms: ModeSpace, rows: np.ndarray, tables: list[np.ndarray], wa: float, wl: float):
        """Exact best reduced reward of each combination in ``rows`` and a way to read its periods."""
        space = self.space
        g = space.grid_s
        r = space.costs.tasks[ms.task].release_s
        fin = ms.final_op
        # only periods up to the latest final period any row allows matter (lags are >= 0)
        last_final = np.floor(
            (ms.latency_max_s[rows] + r - ms.final_dur_s[rows] - ms.out_s[rows]) / g
        ).astype(np.int64)
        lo = int(ms.earliest[rows].min())
        hi = min(space.horizon, int(last_final.max()) + 2)
        hi = max(hi, lo + 1)
        w = hi - lo
        tau = np.arange(lo, hi)
        b = len(rows)
        big = np.inf
        f: dict[int, np.ndarray] = {}
        for k in ms.topo:
            c = tables[k][ms.combos[rows, k], lo:hi].copy()
            c[tau[None, :] < ms.earliest[rows, k][:, None]] = big
            for p in ms.preds[k]:
                pm = np.minimum.accumulate(f[p], axis=1)
                src = np.arange(w)[None, :] - ms.lags[(p, k)][rows][:, None]
                val = np.take_along_axis(pm, np.clip(src, 0, w - 1), axis=1)
                val[src < 0] = big
                c = c + val
            f[k] = c
        lat = (
            np.maximum(tau[None, :] * g, ms.head_s[rows, fin][:, None])
            + (ms.final_dur_s[rows] + ms.out_s[rows] - r)[:, None]
        )
        red = wa * ms.quality[rows][:, None] - wl * lat - f[fin]
        red[lat > ms.latency_max_s[rows][:, None]] = -big
        red[~np.isfinite(f[fin])] = -big
        best_t = red.argmax(axis=1)
        values = red[np.arange(b), best_t]

        def periods(j: int) -> tuple[int, ...]:
            local = [0] * ms.n_ops
            local[fin] = int(best_t[j])
            for k in reversed(ms.topo):
                for p in ms.preds[k]:
                    last = local[k] - int(ms.lags[(p, k)][rows[j]])
                    local[p] = int(np.argmin(f[p][j, : last + 1]))
            return tuple(x + lo for x in local)

        return values, periods
