"""The simulator's speed-ups (issue #14's one-hour target) change no number: each fast path against its checked twin.

tests/test_simulate_speed.py checks whole simulations against digests recorded before any speed-up;
here each piece is checked on its own, so that a failure names the piece:

- the unchecked physics twins (``physics.llm``, ``physics.quality``, ``physics.wifi``) give the
  checked functions' values bit for bit, and the cost tables built with them equal tables built
  with the checked functions only; a bad input still raises the checked function's error;
- the planning tables' site cache (``sim.engine._SiteCache``) gives the sites ``CostTables._sites``
  builds, epoch after epoch, as the backlogs change;
- the generator's ``_chooser`` draws what ``_choice`` draws;
- greedy on one task (no order to choose) places it as the other orders do.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from offload_opt import costs as costs_mod
from offload_opt.costs import CostTables, channel_resource
from offload_opt.evaluator import evaluate
from offload_opt.generator import _chooser, _share_difficulty, generate, generate_tasks
from offload_opt.physics import llm, quality, wifi
from offload_opt.sim import engine
from offload_opt.sim.engine import _PlanCosts, _Simulator, _SiteCache
from offload_opt.solvers import solve


def _rand(rng: random.Random, lo: float, hi: float) -> float:
    return rng.uniform(lo, hi)


def test_unchecked_physics_twins_are_bit_identical():
    rng = random.Random(7)
    b = (-1.2, -0.3, 0.4, 1.1, 1.9)
    w = (1.0, 1.7, 2.9, 4.4, 6.8)
    for _ in range(2000):
        i, o = rng.randint(0, 4000), rng.randint(0, 4000)
        pre, dec, setup = _rand(rng, 50, 9000), _rand(rng, 1, 300), _rand(rng, 0, 0.5)
        assert llm._compute_time_unchecked_s(i, o, pre, dec, setup) == llm.compute_time_s(
            i, o, pre, dec, setup
        )
        tok = _rand(rng, 1e-4, 0.2)
        assert llm._gpu_op_time_unchecked_s(i, o, pre, tok, setup) == llm.gpu_op_time_s(i, o, pre, tok, setup)
        theta, d, a = _rand(rng, -3, 3), _rand(rng, 1, 5), _rand(rng, 0.2, 3)
        assert quality._p_correct_unchecked(theta, d, a, b) == quality.p_correct(theta, d, a, b)
        assert quality._difficulty_to_b_unchecked(d, b) == quality.difficulty_to_b(d, b)
        assert quality._p_correct_of_b(theta, quality.difficulty_to_b(d, b), a) == quality.p_correct(
            theta, d, a, b
        )
        dw = _rand(rng, 1e-4, 5)
        assert quality._work_of_difficulty_unchecked(dw, w) == quality.work_of_difficulty(dw, w)
        q, share, up = _rand(rng, 0, 1), _rand(rng, 0, 2), _rand(rng, 0, 0.9)
        assert quality._work_share_quality_unchecked(q, share, up) == quality.work_share_quality(q, share, up)
        n, rate, eff, over, rho = (
            _rand(rng, 0, 1e6),
            _rand(rng, 8, 2400),
            _rand(rng, 0.1, 1),
            1e-4,
            rng.choice([0.0, _rand(rng, 0, 0.9)]),
        )
        fast = wifi._airtime_unchecked_s(n, rate, eff, over, wifi.background_factor(rho))
        assert fast == wifi.airtime_s(n, rate, eff, over, rho)


def _reference_options(self, task, difficulty, in_tokens, out_tokens, work_share=None):
    """``CostTables._options`` before its fast paths (main at 4b15d62): checked physics for every option."""
    inst = self.instance
    physics = inst.physics
    quality_of: dict[str, float] = {}
    opts = []
    for site in self._sites(task.user):
        sp = site.speed
        if site.decode_token_s is None:
            dur = llm.compute_time_s(in_tokens, out_tokens, sp.prefill_tps, sp.decode_tps, sp.setup_s)
        else:
            dur = llm.gpu_op_time_s(in_tokens, out_tokens, sp.prefill_tps, site.decode_token_s, sp.setup_s)
        q = quality_of.get(site.model)
        if q is None:
            theta = inst.model_by_id[site.model].theta
            q = quality.p_correct(theta, difficulty, physics.quality_a, physics.quality_b_levels)
            if work_share is not None:
                q = quality.work_share_quality(q, work_share, physics.decomposition_uplift)
            quality_of[site.model] = q
        opts.append(costs_mod.Option(site.node, site.model, site.resources, dur, q, site.ready_s))
    return tuple(opts)


def _reference_rating(self, task_difficulty, op_difficulty):
    """``CostTables._decomposed_rating`` before its fast path (checked physics)."""
    physics = self.instance.physics
    if physics.composition == "product":
        return op_difficulty, None
    wl = physics.work_levels
    return task_difficulty, quality.work_of_difficulty(op_difficulty, wl) / quality.work_of_difficulty(
        task_difficulty, wl
    )


def _checked_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the cost tables build their options, work shares and airtimes with the checked physics only."""
    monkeypatch.setattr(CostTables, "_options", _reference_options)
    monkeypatch.setattr(CostTables, "_decomposed_rating", _reference_rating)
    monkeypatch.setattr(
        costs_mod,
        "_airtime_unchecked_s",
        lambda n, rate, eff, over, factor: wifi.airtime_s(n, rate, eff, over, 1.0 - 1.0 / factor),
    )


@pytest.mark.parametrize("actual", [False, True])
@pytest.mark.parametrize("seed", [0, 3])
def test_cost_tables_equal_the_checked_physics_tables(monkeypatch, seed, actual):
    inst = generate("default", seed=seed, users=20, aps=4, tasks_per_user=3, background_utilisation=0.3)

    def transfers(tables: CostTables) -> list:
        """Every flow's transfer from its owner to each AP in range."""
        return [
            tables.transfer(f, u, a)
            for t in tables.tasks
            for m in t.modes
            for f in m.flows
            for u in [t.owner]
            for a in (f"ap:{x.id}" for x in inst.aps)
            if u is not None and x_in_range(inst, u, a)
        ]

    fast = CostTables(inst, actual=actual)
    fast_tr = transfers(fast)
    with monkeypatch.context() as mp:
        _checked_only(mp)
        slow = CostTables(inst, actual=actual)
        slow_tr = transfers(slow)
    assert fast.tasks == slow.tasks  # every option's duration and quality, bit for bit
    assert fast_tr == slow_tr and fast_tr


def x_in_range(inst, user_node: str, ap_node: str) -> bool:
    return ap_node.removeprefix("ap:") in inst.links_of_user[user_node.removeprefix("user:")]


def test_a_bad_op_difficulty_still_raises_in_any_op():
    """The product rule rates an op at its own difficulty, which must be a MATH level (>= 1): the checked
    physics raise on the first model of every op, so a bad difficulty in a later op is caught too."""
    inst = generate("default", seed=1, tasks_per_user=2)
    ph = dataclasses.replace(inst.physics, composition="product", decomposition_uplift=0.0, work_levels=None)
    task = next(t for t in inst.tasks if t.decomposition is not None)
    dec = task.decomposition
    subs = tuple(dataclasses.replace(s, difficulty=2.0, actual=None) for s in dec.subtasks)
    agg = dataclasses.replace(dec.aggregation, difficulty=2.0, actual=None)
    ok = dataclasses.replace(task, decomposition=dataclasses.replace(dec, subtasks=subs, aggregation=agg))
    bad_subs = subs[:-1] + (dataclasses.replace(subs[-1], difficulty=0.5),)  # the last subtask
    bad = dataclasses.replace(ok, decomposition=dataclasses.replace(dec, subtasks=bad_subs, aggregation=agg))
    CostTables(inst.replace(physics=ph, tasks=(ok,)))  # fine
    with pytest.raises(ValueError, match="difficulty"):
        CostTables(inst.replace(physics=ph, tasks=(bad,)))


def test_plan_site_cache_gives_the_sites_cost_tables_build():
    """Planning instances at many epochs with changing backlogs: the cached sites equal fresh ones."""
    net = generate("default", seed=2, users=30, aps=5, tasks_per_user=4)
    sim = _Simulator(net, "greedy", engine.EpochRule.parse("arrival"), 0, None, {}, 0.0, False)
    cache = _SiteCache()
    rng = random.Random(5)
    arrivals = [engine.Arrival(t, 0.5) for t in net.tasks]
    slots = [r for ap in net.aps for _, rs in sim.slots_of_ap[ap.id] for r in rs]
    busy_seen = set()
    for k in range(12):
        free = {r: rng.choice([0.0, rng.uniform(0, 40)]) for r in slots}
        origin = rng.uniform(0, 20)
        sim.chan_frozen = {  # a committed transfer running at the epoch on some channels
            channel_resource(c.id): [(origin - 1.0, origin + rng.uniform(0, 3), "x/y")]
            for c in net.channels
            if rng.random() < 0.5
        }
        pending = arrivals[k * 5 : k * 5 + 5]
        plan_inst, _ = sim._planning_instance(pending, origin, free)
        busy_seen.update(c.busy_until_s > 0 for c in plan_inst.channels)
        device_free = {f"user:{u.id}": rng.uniform(0, 5) for u in net.users if rng.random() < 0.3}
        cached = _PlanCosts(plan_inst, device_free, None, origin, cache)
        given = _PlanCosts(plan_inst, device_free, None, origin, cache, sim.plan_backlogs)  # as _epoch does
        fresh = _PlanCosts(plan_inst, device_free, None, origin)
        assert cached.tasks == fresh.tasks == given.tasks
        for u in net.users:
            assert cached._sites(u.id) == CostTables._sites(fresh, u.id) == given._sites(u.id)
        for t in fresh.tasks:
            for m in t.modes:
                for f in m.flows:
                    for ap in net.aps:
                        if ap.id in net.links_of_user[t.owner.removeprefix("user:")]:
                            for a, b in ((t.owner, f"ap:{ap.id}"), (f"ap:{ap.id}", t.owner)):
                                assert cached.transfer(f, a, b) == CostTables.transfer(fresh, f, a, b)
                    assert cached.transfer(f, "ap:ap0", "ap:ap1") == fresh.transfer(f, "ap:ap0", "ap:ap1")
    assert cache.static and cache.paths  # the caches were used
    assert busy_seen == {True, False}  # channels busy and free at epochs


def test_device_ready_tables_equal_the_replace_built_ones():
    """``_with_device_ready`` builds with the tables' constructors what ``dataclasses.replace`` built."""
    inst = generate("default", seed=6, users=10, tasks_per_user=2)
    tables = CostTables(inst)
    for t in tables.tasks:
        free = {t.owner: 3.25, "user:nobody": 9.0}

        def opt(o, free=free):
            f = free.get(o.node)
            return dataclasses.replace(o, ready_s=max(o.ready_s, f)) if f is not None else o

        want = dataclasses.replace(
            t,
            modes=tuple(
                dataclasses.replace(
                    m,
                    ops=tuple(
                        dataclasses.replace(op, options=tuple(opt(o) for o in op.options)) for op in m.ops
                    ),
                )
                for m in t.modes
            ),
        )
        got = engine._with_device_ready(t, free)
        assert got == want and got != t


def test_chooser_draws_what_choice_draws():
    mix = {"1": 0.1, "2": 0.25, "3": 0.3, "4": 0.2, "5": 0.15}
    a, b = np.random.default_rng(11), np.random.default_rng(11)
    draw = _chooser(mix)
    names = list(mix)
    w = np.array([mix[n] for n in names], dtype=float)
    for _ in range(500):  # the draw before _chooser: names[int(rng.choice(len(names), p=w / w.sum()))]
        assert draw(a) == names[int(b.choice(len(names), p=w / w.sum()))]
        assert a.random() == b.random()  # and the stream stays in step


def test_greedy_on_one_task_places_it_as_every_order_does():
    inst = generate("default", seed=4, users=8, tasks_per_user=1)
    for t in inst.tasks[:4]:
        one = inst.replace(tasks=(t,))
        sols = {order: solve(one, "greedy", order=order).solution for order in ("spt", "release", "rank")}
        assert sols["spt"].decisions == sols["release"].decisions == sols["rank"].decisions
        assert sols["spt"].sequences == sols["release"].sequences


@pytest.mark.parametrize(
    "kw",
    [dict(seed=0, users=12, tasks_per_user=6), dict(seed=9, users=30, aps=5, area_m=51.6, tasks_per_user=3)],
)
def test_generate_tasks_are_the_tasks_of_generate(kw):
    """The simulator's pool (``generate_tasks``) is ``generate``'s tasks to the bit (its work shares
    take the once-per-task W(L) and the unchecked inverse: the same numbers)."""
    assert generate_tasks("default", **kw) == generate("default", **kw).tasks


def test_share_difficulty_fast_path_equals_the_checked_one():
    rng = random.Random(3)
    wl = (1.0, 1.7, 2.9, 4.4, 6.8)
    for _ in range(3000):
        d, share = rng.uniform(1, 5), rng.choice([0.0, 1e-12, rng.random(), 1.0])
        want = _share_difficulty(share, d, wl)
        assert _share_difficulty(share, d, wl, quality.work_of_difficulty(d, wl)) == want
        assert quality._difficulty_of_work_unchecked(
            max(share, 1e-9) * 6.8, wl
        ) == quality.difficulty_of_work(max(share, 1e-9) * 6.8, wl)


def test_execution_tables_time_a_decision_as_the_full_tables_do():
    """``_ExecCosts`` builds only each decision's mode and places: the evaluator gives every activity
    and every task the times and metrics it gives with the full actual-value tables."""
    inst = generate("default", seed=8, users=15, aps=4, tasks_per_user=2)
    res = solve(inst, "greedy")
    decisions = list(res.solution.decisions)
    assert {d.mode for d in decisions} == {"whole", "decompose"}  # both kinds of tables are built
    full = evaluate(CostTables(inst, actual=True, time_origin_s=0.0), res.solution)
    small_tables = engine._ExecCosts(inst, (), engine._ExecCache(), decisions)
    assert all(len(t.modes) == 1 for t in small_tables.tasks)
    small = evaluate(small_tables, res.solution)
    assert small.schedule == full.schedule and small.tasks == full.tasks


def test_remap_decision_equals_the_replace_built_one():
    """``_remap_decision`` builds with the constructors (and keeps unchanged decisions as they are)
    what ``dataclasses.replace`` built."""
    from offload_opt.costs import server_resource
    from offload_opt.solution import Placement, TaskDecision

    group_of = {("a", "m"): "g0", ("a", "n"): "g1"}
    slot_map = {server_resource("a", "g0", 0): server_resource("a", "g0", 2)}
    slot_map[server_resource("a", "g0", 2)] = server_resource("a", "g0", 0)
    slot_map[server_resource("a", "g1", 0)] = server_resource("a", "g1", 0)
    for slots in ((0, 0), (2, 1), (1, 0)):
        d = TaskDecision(
            "t1",
            "decompose",
            (
                Placement("s0", "ap:a", "m", slots[0]),
                Placement("s1", "ap:a", "n", slots[1]),
                Placement("agg", "user:u", "x", 0),
            ),
        )
        want = []
        for p in d.placements:
            if p.node.startswith("ap:"):
                res = slot_map.get(server_resource("a", group_of[("a", p.model)], p.slot))
                if res is not None:
                    p = dataclasses.replace(p, slot=int(res.rsplit(":", 1)[1]))
            want.append(p)
        assert engine._remap_decision(d, slot_map, group_of) == dataclasses.replace(d, placements=tuple(want))
