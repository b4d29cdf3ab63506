"""Separation: the resource conflicts a relaxation's solution shows, and the rows that forbid them.

Used between rounds of the row generation (docs/mip.md, "Solving"): pairs overlapping on a unary
resource, k + 1 ops at once on a k-slot server, and server-content cuts.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

from offload_opt.solvers.mip.model import EPS, MipModel, Pair

MAX_CLIQUES_PER_EVENT = 20
MAX_CLIQUES_PER_SERVER = 200


def find_conflicts(
    model: MipModel, times: dict[int, tuple[float, float, str | None]], candidates: dict[Pair, list[str]]
) -> tuple[dict[Pair, list[str]], list[tuple[str, tuple[int, ...]]]]:
    """Resource conflicts of these times the model does not rule out yet.

    Returned: pairs overlapping on a unary resource, and (resource, k + 1 activities) running at
    one time on a resource with k slots.
    """
    st = model.st
    on: dict[str, list[int]] = defaultdict(list)
    for i, (_, _, res) in times.items():
        if res is not None:
            on[res].append(i)
    pairs: dict[Pair, list[str]] = {}
    cliques: list[tuple[str, tuple[int, ...]]] = []
    crowded: set[str] = set()
    for res, acts in on.items():
        k = model.limit.get(res, 1)
        acts.sort(key=lambda i: (times[i][0], times[i][1]))
        active: list[int] = []  # activities of positive length still running
        for j in acts:
            sj, ej, _ = times[j]
            active = [i for i in active if times[i][1] > sj + EPS]
            overlapping = [i for i in active if ej > times[i][0] + EPS]  # all contain [sj, ...)
            if len(overlapping) >= k:
                if k == 1:
                    for i in overlapping:
                        pair = (min(i, j), max(i, j))
                        if pair in model.pairs:
                            continue
                        if pair not in candidates:
                            raise AssertionError(
                                f"mip: {st.acts[i].key} and {st.acts[j].key} overlap outside their windows"
                            )
                        pairs[pair] = candidates[pair]
                else:
                    crowded.add(res)
                    for combo in itertools.islice(
                        itertools.combinations(overlapping, k), MAX_CLIQUES_PER_EVENT
                    ):
                        members = tuple(sorted((*combo, j)))
                        if (res, members) not in model.cliques:
                            cliques.append((res, members))
            if ej > sj + EPS:
                active.append(j)
    # a crowded server: order every k + 1 of the ops placed on it, not just those that overlapped
    for res in crowded:
        k = model.limit[res]
        for combo in itertools.islice(itertools.combinations(sorted(on[res]), k + 1), MAX_CLIQUES_PER_SERVER):
            if (res, combo) not in model.cliques:
                cliques.append((res, combo))
    return pairs, cliques


MAX_CONTENT_OPS = 7  # server-content cuts enumerate orders: at most 7! = 5040


def least_completion_sum(jobs: list[tuple[int, float, float, float]], k: int) -> float:
    """Least sum over tasks of max(C_j + tail_j) for jobs (task, release, p, tail) on k identical slots.

    Exact: any schedule of identical slots, taken in order of start and list-scheduled on the
    slot free first, starts nothing later; so the least over all orders of that list schedule
    is the optimum (orders are enumerated with a bound on the partial sum).
    """
    best = math.inf
    n = len(jobs)

    def rec(order_left: list[int], free: list[float], done: dict[int, float]) -> None:
        nonlocal best
        if sum(done.values()) >= best:
            return
        if not order_left:
            best = sum(done.values())
            return
        kk = min(range(k), key=lambda x: free[x])
        for idx, j in enumerate(order_left):
            t, rel, p, tail = jobs[j]
            c = max(free[kk], rel) + p
            old_free, old_done = free[kk], done.get(t)
            free[kk] = c
            done[t] = max(old_done if old_done is not None else -math.inf, c + tail)
            rec(order_left[:idx] + order_left[idx + 1 :], free, done)
            free[kk] = old_free
            if old_done is None:
                del done[t]
            else:
                done[t] = old_done

    rec(list(range(n)), [-math.inf] * k, {})
    return best


def content_cuts(model: MipModel, assignments: dict, times: dict, crowded: set[str]) -> int:
    """Server-content cuts for the ops a solution put on each crowded server (``add_content_cut``)."""
    st, win = model.st, model.win
    added = 0
    for res in crowded:
        if res.startswith("srv:") and not model.capacity:
            continue  # one slot of a server: the options do not say which slot, so no cut
        members = []
        for i, (_, _, r) in times.items():
            a = st.acts[i]
            if r == res and a.kind == "op":
                members.append((i, assignments[a.task].options[a.local]))
        if not 1 < len(members) <= MAX_CONTENT_OPS:
            continue
        jobs = [
            (st.acts[i].task, model._option_window(i, o)[0], model._option(i, o).duration_s, win.tail[i][o])
            for i, o in members
        ]
        if model.add_content_cut(members, least_completion_sum(jobs, model.limit.get(res, 1))):
            added += 1
    return added
