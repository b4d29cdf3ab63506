"""Cross-check of the evaluator against an independent re-implementation of docs/model.md.

``Reference`` below was written from docs/model.md, the data types of
instance.py / solution.py and the physics formulas only; it does not use
costs.py or evaluator.py. For generated instances, every registered solver
(except the MIP) and random perturbations of their solutions, it must agree
with ``evaluate(build_costs(instance), solution)`` on every activity's start
and end, every task's latency, quality and reward, the objective and the
verdict (feasible, or infeasible because the sequences contradict the data
flow), under predicted and under actual values.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offload_opt import build_costs, evaluate, generate
from offload_opt.instance import (
    Actual,
    Backhaul,
    Decomposition,
    ExplicitCosts,
    ExplicitEdge,
    ExplicitJob,
    ExplicitOp,
    Instance,
    Objective,
    Task,
)
from offload_opt.physics.llm import compute_time_s
from offload_opt.physics.quality import compose_decomposed, p_correct
from offload_opt.physics.wifi import airtime_s
from offload_opt.solution import Placement, Sequence, Solution, TaskDecision
from offload_opt.solvers import solve, solvers

REL = 1e-9
ROOT = Path(__file__).resolve().parents[1]
TOPCUOGLU = ROOT / "instances" / "classic" / "topcuoglu2002.json"


# ---- the independent implementation -----------------------------------------------------------


@dataclass
class OpSpec:
    """One op of a task in one mode, under predicted or actual values."""

    name: str
    own_in_tokens: int  # prompt tokens (whole) or input tokens (subtask, agg)
    out_tokens: float
    difficulty: float
    uses_payload: bool
    inputs: tuple[str, ...]  # ops whose outputs it needs
    in_tokens: float = 0.0  # own input plus the inputs' output tokens


def _pick(pred, actual, attr, use_actual):
    if use_actual and actual is not None and getattr(actual, attr) is not None:
        return getattr(actual, attr)
    return pred


def task_ops(task: Task, mode: str, use_actual: bool) -> list[OpSpec]:
    """The ops of ``task`` in ``mode`` (docs/model.md, Decisions and Timing rules)."""
    if mode == "whole":
        w = task.whole
        ops = [
            OpSpec(
                "whole",
                task.prompt_tokens,
                _pick(w.output_tokens, w.actual, "output_tokens", use_actual),
                _pick(w.difficulty, w.actual, "difficulty", use_actual),
                True,
                (),
            )
        ]
    elif mode == "decompose" and task.decomposition is not None:
        dec = task.decomposition
        ops = [
            OpSpec(
                s.id,
                s.input_tokens,
                _pick(s.output_tokens, s.actual, "output_tokens", use_actual),
                _pick(s.difficulty, s.actual, "difficulty", use_actual),
                s.uses_payload,
                tuple(dict.fromkeys(s.parents)),
            )
            for s in dec.subtasks
        ]
        ag = dec.aggregation
        ops.append(
            OpSpec(
                "agg",
                ag.input_tokens,
                _pick(ag.output_tokens, ag.actual, "output_tokens", use_actual),
                _pick(ag.difficulty, ag.actual, "difficulty", use_actual),
                False,
                tuple(s.id for s in dec.subtasks),
            )
        )
    else:
        raise KeyError(f"task {task.id} has no mode {mode!r}")
    out = {o.name: o.out_tokens for o in ops}
    for o in ops:
        o.in_tokens = o.own_in_tokens + sum(out[p] for p in o.inputs)
    return ops


@dataclass
class Act:
    key: str
    task: str
    kind: str  # op, transfer, backhaul, local
    resource: str | None
    duration: float
    data_preds: list[str] = field(default_factory=list)
    min_start: float = 0.0
    start: float = math.nan
    end: float = math.nan


@dataclass
class TaskOut:
    latency: float
    quality: float
    reward: float
    deadline_met: bool


@dataclass
class RefEval:
    feasible: bool
    reason: str
    acts: dict[str, Act]
    tasks: dict[str, TaskOut]
    objective: float


class Reference:
    """docs/model.md, re-implemented: durations, transfers, timing, quality and reward."""

    def __init__(self, inst: Instance, use_actual: bool = False) -> None:
        self.inst = inst
        self.use_actual = use_actual

    # -- building blocks --

    def op_duration(self, node: str, model: str | None, op: OpSpec) -> float:
        kind, ident = node.split(":", 1)
        hw = self.inst.user_by_id[ident].hardware if kind == "user" else self.inst.ap_by_id[ident].hardware
        sp = self.inst.speed_of[(hw, model)]
        gpu = self.gpu_of(ident, model) if kind == "ap" else None
        if gpu is None:
            return compute_time_s(op.in_tokens, op.out_tokens, sp.prefill_tps, sp.decode_tps, sp.setup_s)
        # docs/model.md "Edge serving": decode at batch B, plus one weight read per token of each of the
        # heaviest B - 1 other models on the GPU; prefill and setup at batch 1
        ap = self.inst.ap_by_id[ident]
        others = sorted(
            (
                self.inst.speed_of[(hw, s.model)].weights_gb
                for s in ap.servers
                if s.gpu == gpu.id and s.model != model
            ),
            reverse=True,
        )
        token_s = (1 + gpu.batch_slope * (gpu.slots - 1)) / sp.decode_tps + sum(
            others[: gpu.slots - 1]
        ) / gpu.mem_bandwidth_gbps
        return sp.setup_s + op.in_tokens / sp.prefill_tps + op.out_tokens * token_s

    def gpu_of(self, ap_id: str, model: str | None):
        """The GPU ``model`` runs on at ``ap_id`` (None: a version-1 server with its own slots)."""
        ap = self.inst.ap_by_id[ap_id]
        server = next(s for s in ap.servers if s.model == model)
        return None if server.gpu is None else next(g for g in ap.gpus if g.id == server.gpu)

    def quality(self, model: str, difficulty: float) -> float:
        ph = self.inst.physics
        return p_correct(self.inst.model_by_id[model].theta, difficulty, ph.quality_a, ph.quality_b_levels)

    def op_qualities(self, task: Task, mode: str, ops: list[OpSpec], models: list[str]) -> list[float]:
        """Each op's success probability under the instance's composition rule (docs/model.md)."""
        ph = self.inst.physics
        if mode == "whole" or ph.composition == "product":
            return [self.quality(m, o.difficulty) for o, m in zip(ops, models, strict=True)]
        # work-share: rated at the whole task's level, raised to (1 - uplift) * its share of the work
        level = _pick(task.whole.difficulty, task.whole.actual, "difficulty", self.use_actual)
        grid = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        work = [0.0, *ph.work_levels]
        whole_work = float(np.interp(level, grid, work))
        keep = 1.0 - ph.decomposition_uplift
        return [
            self.quality(m, level) ** (keep * float(np.interp(o.difficulty, grid, work)) / whole_work)
            for o, m in zip(ops, models, strict=True)
        ]

    def flow(self, owner: str, src: str, dst: str, n_bytes: float) -> tuple[str, str | None, float]:
        """(kind, resource, duration) of moving ``n_bytes`` from node ``src`` to node ``dst``."""
        if src == dst:
            return "local", None, 0.0
        s_kind, s_id = src.split(":", 1)
        d_kind, d_id = dst.split(":", 1)
        if s_kind == "ap" and d_kind == "ap":
            bh = self.inst.backhaul_between(s_id, d_id)
            return "backhaul", None, bh.latency_s + 8.0 * n_bytes / (bh.bandwidth_mbps * 1e6)
        assert {s_kind, d_kind} == {"user", "ap"}, (src, dst)
        user, ap = (s_id, d_id) if s_kind == "user" else (d_id, s_id)
        assert user == owner, (user, owner)
        link = self.inst.links_of_user[user][ap]
        chan = self.inst.ap_by_id[ap].channel
        eff = self.inst.channel_by_id[chan].mac_efficiency
        dur = airtime_s(n_bytes, link.phy_rate_mbps, eff, overhead_s=self.inst.physics.airtime_overhead_s)
        return "transfer", f"chan:{chan}", dur

    # -- activities of one decision --

    def activities(self, d: TaskDecision) -> list[Act]:
        if self.inst.is_explicit:
            return self._explicit_activities(d)
        inst, ph = self.inst, self.inst.physics
        task = next(t for t in inst.tasks if t.id == d.task)
        owner = f"user:{task.user}"
        ops = task_ops(task, d.mode, self.use_actual)
        place = {p.op: p for p in d.placements}
        assert set(place) == {o.name for o in ops}, (d, [o.name for o in ops])
        out: list[Act] = []
        for o in ops:
            p = place[o.name]
            if p.node.startswith("user:"):
                assert p.node == owner
                res, backlog = f"dev:{task.user}", 0.0
            else:
                ap = p.node.split(":", 1)[1]
                server = next(s for s in inst.ap_by_id[ap].servers if s.model == p.model)
                gpu = self.gpu_of(ap, p.model)
                if gpu is None:
                    assert 0 <= p.slot < server.slots
                    res, backlog = f"srv:{ap}:{p.model}:{p.slot}", server.queue_backlog_s
                else:  # the GPU's slots, shared by all its models
                    assert 0 <= p.slot < gpu.slots
                    res, backlog = f"srv:{ap}:{gpu.id}:{p.slot}", gpu.queue_backlog_s
            key = f"{task.id}/{o.name}"
            dur = self.op_duration(p.node, p.model, o)
            preds = [f"{task.id}/in>{o.name}"] + [f"{task.id}/{i}>{o.name}" for i in o.inputs]
            out.append(Act(key, task.id, "op", res, dur, preds, max(task.release_s, backlog)))
            # the op's own input (a request) from the owner's device at the release
            n_in = o.own_in_tokens * ph.bytes_per_token + ph.request_overhead_bytes
            if o.uses_payload:
                n_in += task.payload_bytes
            kind, fres, fdur = self.flow(task.user, owner, p.node, n_in)
            out.append(Act(f"{task.id}/in>{o.name}", task.id, kind, fres, fdur, [], task.release_s))
            # the outputs of its inputs
            for i in o.inputs:
                src = next(x for x in ops if x.name == i)
                n = src.out_tokens * ph.bytes_per_token + ph.request_overhead_bytes
                kind, fres, fdur = self.flow(task.user, place[i].node, p.node, n)
                out.append(Act(f"{task.id}/{i}>{o.name}", task.id, kind, fres, fdur, [f"{task.id}/{i}"]))
        final = ops[-1]
        # The answer is a response: docs/model.md says only "requests add request_overhead_bytes",
        # models/wifi.yaml says the framing is "added to every request/response"; the latter is used.
        n = final.out_tokens * ph.bytes_per_token + ph.request_overhead_bytes
        kind, fres, fdur = self.flow(task.user, place[final.name].node, owner, n)
        out.append(Act(f"{task.id}/{final.name}>out", task.id, kind, fres, fdur, [f"{task.id}/{final.name}"]))
        return out

    def _explicit_activities(self, d: TaskDecision) -> list[Act]:
        ex = self.inst.explicit
        job = next(j for j in ex.jobs if j.id == d.task)
        place = {p.op: p for p in d.placements}
        out = []
        for op in job.ops:
            proc = place[op.id].node.split(":", 1)[1]
            dur = op.durations[ex.processors.index(proc)]
            assert dur is not None
            preds = [f"{job.id}/{e.src}>{e.dst}" for e in job.edges if e.dst == op.id]
            out.append(Act(f"{job.id}/{op.id}", job.id, "op", f"proc:{proc}", dur, preds, job.release_s))
        for e in job.edges:
            same = place[e.src].node == place[e.dst].node
            out.append(
                Act(
                    f"{job.id}/{e.src}>{e.dst}",
                    job.id,
                    "local" if same else "transfer",
                    None,
                    0.0 if same else e.cost,
                    [f"{job.id}/{e.src}"],
                )
            )
        return out

    # -- the schedule --

    def evaluate(self, sol: Solution) -> RefEval:
        acts: dict[str, Act] = {}
        try:
            for d in sol.decisions:
                for a in self.activities(d):
                    assert a.key not in acts, a.key
                    acts[a.key] = a
        except (KeyError, AssertionError, StopIteration, ValueError) as exc:
            return RefEval(False, f"invalid decision: {exc!r}", acts, {}, math.nan)
        ids = (
            {t.id for t in self.inst.tasks}
            if not self.inst.is_explicit
            else {j.id for j in self.inst.explicit.jobs}
        )
        if {d.task for d in sol.decisions} != ids:
            return RefEval(False, "not every task decided", acts, {}, math.nan)
        seqs = {s.resource: list(s.activities) for s in sol.sequences}
        # the sequences must list exactly the activities on each resource
        want: dict[str, set[str]] = {}
        for a in acts.values():
            if a.resource is not None:
                want.setdefault(a.resource, set()).add(a.key)
        for r in set(want) | set(seqs):
            got = seqs.get(r, [])
            if sorted(got) != sorted(want.get(r, set())):
                return RefEval(False, f"sequence mismatch on {r}", acts, {}, math.nan)
        preds = {k: list(a.data_preds) for k, a in acts.items()}
        for seq in seqs.values():
            for prev, nxt in zip(seq, seq[1:], strict=False):
                preds[nxt].append(prev)
        # Kahn's algorithm: a cycle means the sequences contradict the data flow
        indeg = {k: len(v) for k, v in preds.items()}
        succ: dict[str, list[str]] = {k: [] for k in acts}
        for k, ps in preds.items():
            for p in ps:
                succ[p].append(k)
        ready = [k for k, n in indeg.items() if n == 0]
        order = []
        while ready:
            k = ready.pop()
            order.append(k)
            for s in succ[k]:
                indeg[s] -= 1
                if indeg[s] == 0:
                    ready.append(s)
        if len(order) != len(acts):
            return RefEval(False, "cycle", acts, {}, math.nan)
        for k in order:
            a = acts[k]
            a.start = max([a.min_start] + [acts[p].end for p in preds[k]])
            a.end = a.start + a.duration
        return self._metrics(sol, acts)

    def _metrics(self, sol: Solution, acts: dict[str, Act]) -> RefEval:
        tasks: dict[str, TaskOut] = {}
        if self.inst.is_explicit:
            for d in sol.decisions:
                job = next(j for j in self.inst.explicit.jobs if j.id == d.task)
                end = max(acts[f"{job.id}/{o.id}"].end for o in job.ops)
                tasks[job.id] = TaskOut(end - job.release_s, math.nan, math.nan, True)
            makespan = max(a.end for a in acts.values() if a.kind == "op")
            return RefEval(True, "", acts, tasks, makespan)
        obj = self.inst.objective
        feasible = True
        for d in sol.decisions:
            task = next(t for t in self.inst.tasks if t.id == d.task)
            ops = task_ops(task, d.mode, self.use_actual)
            place = {p.op: p for p in d.placements}
            qs = self.op_qualities(task, d.mode, ops, [place[o.name].model for o in ops])
            q = qs[0] if d.mode == "whole" else compose_decomposed(qs[-1], qs[:-1])
            latency = acts[f"{task.id}/{ops[-1].name}>out"].end - task.release_s
            met = task.deadline_s is None or latency <= task.deadline_s
            feasible &= met
            reward = obj.accuracy_weight * q - obj.latency_weight_per_s * latency
            tasks[task.id] = TaskOut(latency, q, reward, met)
        return RefEval(feasible, "", acts, tasks, sum(t.reward for t in tasks.values()))


# ---- comparison -------------------------------------------------------------------------------


def close(a: float, b: float, rel: float = REL) -> bool:
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


def compare(inst: Instance, sol: Solution, use_actual: bool) -> tuple[RefEval, object]:
    """Assert the reference and the evaluator agree on ``sol``; return both verdicts."""
    ref = Reference(inst, use_actual).evaluate(sol)
    ev = evaluate(build_costs(inst, actual=use_actual), sol)
    where = f"{inst.name} actual={use_actual} solver={sol.solver}"
    if ref.reason:  # a bad decision, a sequence listing the wrong activities, or a cycle
        assert not ev.feasible, f"{where}: reference finds {ref.reason}, evaluator says feasible"
        assert ev.violations, where
        return ref, ev
    # the evaluator may only call a schedule infeasible for a missed deadline
    deadline_missed = any(not t.deadline_met for t in ref.tasks.values())
    assert ev.feasible == ref.feasible, f"{where}: feasible {ev.feasible} vs {ref.feasible}: {ev.violations}"
    if not ev.feasible:
        assert deadline_missed, f"{where}: {ev.violations}"
    for k, a in ref.acts.items():
        e = ev.schedule.get(k)
        assert e is not None, f"{where}: evaluator has no activity {k}"
        assert e.kind == a.kind, f"{where}: {k} kind {e.kind} vs {a.kind}"
        assert e.resource == a.resource, f"{where}: {k} resource {e.resource} vs {a.resource}"
        # the evaluator times in seconds after the earliest release (docs/model.md), the reference in absolute s
        start_s, end_s = ev.time_origin_s + e.start_s, ev.time_origin_s + e.end_s
        assert close(start_s, a.start), f"{where}: {k} start {start_s!r} vs {a.start!r}"
        assert close(end_s, a.end), f"{where}: {k} end {end_s!r} vs {a.end!r}"
    assert set(ev.schedule) == set(ref.acts), f"{where}: {set(ev.schedule) ^ set(ref.acts)}"
    by_task = {t.task: t for t in ev.tasks}
    assert set(by_task) == set(ref.tasks), where
    for tid, r in ref.tasks.items():
        t = by_task[tid]
        assert close(t.latency_s, r.latency), f"{where}: {tid} latency {t.latency_s!r} vs {r.latency!r}"
        assert t.deadline_met == r.deadline_met, f"{where}: {tid} deadline_met"
        if not inst.is_explicit:
            assert close(t.quality, r.quality), f"{where}: {tid} quality {t.quality!r} vs {r.quality!r}"
            assert close(t.reward, r.reward), f"{where}: {tid} reward {t.reward!r} vs {r.reward!r}"
    if ev.feasible:
        assert close(ev.objective, ref.objective), f"{where}: objective {ev.objective!r} vs {ref.objective!r}"
    return ref, ev


# ---- instances, solvers and perturbations -----------------------------------------------------

SOLVERS = [n for n, s in solvers().items() if not s.exact]  # exact solvers (mip, cg) are slow here
SOLVER_OPTIONS = {"local-search": {"max_iters": 50}}


def variant(inst: Instance, rng: random.Random) -> Instance:
    """Forms the generator never writes: no decomposition, subtasks listed children first,
    repeated parents, partial ``actual`` values, per-task deadlines, per-pair backhaul."""
    tasks = []
    for t in inst.tasks:
        dec = t.decomposition
        choice = rng.randrange(5)
        if choice == 0:
            t = replace(t, decomposition=None)
        elif choice == 1:
            t = replace(t, decomposition=Decomposition(tuple(reversed(dec.subtasks)), dec.aggregation))
        elif choice == 2:
            subs = tuple(replace(s, parents=s.parents + s.parents) for s in dec.subtasks)
            t = replace(t, decomposition=Decomposition(subs, dec.aggregation))
        elif choice == 3:
            subs = tuple(
                replace(
                    s,
                    actual=rng.choice(
                        [None, Actual(None, s.actual.output_tokens), Actual(s.actual.difficulty)]
                    ),
                )
                for s in dec.subtasks
            )
            agg = replace(dec.aggregation, actual=None)
            whole = replace(t.whole, actual=Actual(None, rng.randint(1, 900)))
            t = replace(t, decomposition=Decomposition(subs, agg), whole=whole)
        tasks.append(replace(t, deadline_s=rng.choice([t.deadline_s, None, 8.0])))
    pairs = tuple(
        Backhaul(rng.choice([0.0, 0.05, 0.5]), rng.choice([1.0, 50.0]), a.id, b.id)
        for a in inst.aps
        for b in inst.aps
        if a.id < b.id and rng.random() < 0.7
    )
    return inst.replace(name=inst.name + "-variant", tasks=tuple(tasks), backhaul=inst.backhaul + pairs)


@st.composite
def instances(draw) -> Instance:
    min_sub = draw(st.integers(1, 2))
    inst = generate(
        "small",
        seed=draw(st.integers(0, 10_000)),
        users=draw(st.integers(1, 6)),
        aps=draw(st.integers(1, 3)),
        min_subtasks=min_sub,
        max_subtasks=draw(st.integers(max(min_sub, 1), 4)),
        models_per_ap=draw(st.integers(1, 2)),
        channel_plan=draw(st.sampled_from(["separate", "co-channel"])),
        slots=draw(st.integers(1, 3)),
        gpus_per_ap=draw(st.integers(1, 2)),  # 1: models may share a GPU
        backlog_max_s=draw(st.sampled_from([0.0, 1.0, 5.0])),
        tasks_per_user=draw(st.integers(1, 2)),
        dependency_density=draw(st.sampled_from([0.0, 0.3, 0.8])),
        planner=draw(st.sampled_from(["oracle", "teacher", "distilled"])),
        deadline_s=draw(st.sampled_from([None, None, 20.0, 60.0])),
        accuracy_weight=draw(st.sampled_from([1.0, 2.5])),
        latency_weight_per_s=draw(st.sampled_from([0.05, 0.2])),
    )
    if draw(st.booleans()):
        inst = variant(inst, random.Random(draw(st.integers(0, 2**32 - 1))))
    return inst


def solved(inst: Instance, name: str) -> Solution | None:
    return solve(inst, name, seed=0, **SOLVER_OPTIONS.get(name, {})).solution


def _slots(inst: Instance, ap_id: str, model: str) -> int:
    """Slots an op of ``model`` at ``ap_id`` may take: its GPU's, or (version 1) its server's."""
    ap = inst.ap_by_id[ap_id]
    server = next(s for s in ap.servers if s.model == model)
    return server.slots if server.gpu is None else next(g.slots for g in ap.gpus if g.id == server.gpu)


def op_options(inst: Instance, task: Task) -> list[tuple[str, str, int]]:
    """(node, model, slots) of every option an op of ``task`` may use."""
    user = inst.user_by_id[task.user]
    out = [(f"user:{user.id}", m, 1) for m in user.local_models]
    for ap in inst.links_of_user[user.id]:
        out += [(f"ap:{ap}", s.model, _slots(inst, ap, s.model)) for s in inst.ap_by_id[ap].servers]
    return out


def resequence(inst: Instance, sol: Solution, decisions: list[TaskDecision], rng: random.Random) -> Solution:
    """New decisions, sequences kept where possible, new activities inserted at random positions."""
    new = replace(sol, decisions=tuple(decisions))
    ref = Reference(inst)
    where = {a.key: a.resource for d in decisions for a in ref.activities(d) if a.resource is not None}
    seqs: dict[str, list[str]] = {}
    placed = set()
    for s in sol.sequences:
        keep = [k for k in s.activities if where.get(k) == s.resource]
        seqs[s.resource] = keep
        placed.update(keep)
    for k, r in where.items():
        if k not in placed:
            seq = seqs.setdefault(r, [])
            seq.insert(rng.randint(0, len(seq)), k)
    sequences = tuple(Sequence(r, tuple(v)) for r, v in sorted(seqs.items()) if v)
    return replace(new, sequences=sequences)


def perturb(inst: Instance, sol: Solution, rng: random.Random) -> tuple[str, Solution]:
    """One random change: swap/move in a sequence, change a slot, an option or a task's mode."""
    kind = rng.choice(["swap", "move", "slot", "option", "mode"])
    seqs = [s for s in sol.sequences if len(s.activities) >= 2]
    if kind in ("swap", "move") and seqs:
        s = rng.choice(seqs)
        acts = list(s.activities)
        i = rng.randrange(len(acts) - 1)
        if kind == "swap":
            acts[i], acts[i + 1] = acts[i + 1], acts[i]
        else:
            acts.insert(rng.randint(0, len(acts) - 1), acts.pop(rng.randrange(len(acts))))
        out = tuple(Sequence(x.resource, tuple(acts)) if x is s else x for x in sol.sequences)
        return kind, replace(sol, sequences=out)
    decisions = list(sol.decisions)
    di = rng.randrange(len(decisions))
    d = decisions[di]
    task = next(t for t in inst.tasks if t.id == d.task)
    options = op_options(inst, task)
    if kind == "slot":
        on_srv = [
            (i, p)
            for i, p in enumerate(d.placements)
            if p.node.startswith("ap:") and next(o for o in options if o[:2] == (p.node, p.model))[2] > 1
        ]
        if on_srv:
            i, p = rng.choice(on_srv)
            slots = next(o for o in options if o[:2] == (p.node, p.model))[2]
            new_slot = rng.choice([s for s in range(slots) if s != p.slot])
            pl = list(d.placements)
            pl[i] = replace(p, slot=new_slot)
            decisions[di] = replace(d, placements=tuple(pl))
            return kind, resequence(inst, sol, decisions, rng)
        kind = "option"
    if kind == "option":
        i = rng.randrange(len(d.placements))
        node, model, slots = rng.choice(options)
        pl = list(d.placements)
        pl[i] = Placement(pl[i].op, node, model, rng.randrange(slots))
        decisions[di] = replace(d, placements=tuple(pl))
        return kind, resequence(inst, sol, decisions, rng)
    modes = ["whole"] + (["decompose"] if task.decomposition is not None else [])
    mode = rng.choice(modes)
    names = ["whole"] if mode == "whole" else [s.id for s in task.decomposition.subtasks] + ["agg"]
    pl = []
    for n in names:
        node, model, slots = rng.choice(options)
        pl.append(Placement(n, node, model, rng.randrange(slots)))
    decisions[di] = TaskDecision(task.id, mode, tuple(pl))
    return "mode", resequence(inst, sol, decisions, rng)


def break_solution(inst: Instance, sol: Solution, rng: random.Random) -> tuple[str, Solution]:
    """One change that makes the solution invalid: both sides must reject it."""
    kinds = ["drop-decision", "bad-slot", "bad-model", "drop-activity", "extra-activity"]
    kinds += ["other-device"] if len(inst.users) > 1 else []
    kind = rng.choice(kinds)
    decisions = list(sol.decisions)
    di = rng.randrange(len(decisions))
    d = decisions[di]
    task = next(t for t in inst.tasks if t.id == d.task)
    reachable = set(inst.links_of_user[task.user])
    if kind == "drop-decision":
        decisions.pop(di)
        return kind, replace(sol, decisions=tuple(decisions))
    if kind == "other-device":
        other = rng.choice([u for u in inst.users if u.id != task.user])
        model = (other.local_models or (inst.models[0].id,))[0]
        pl = list(d.placements)
        i = rng.randrange(len(pl))
        pl[i] = Placement(pl[i].op, f"user:{other.id}", model)
        decisions[di] = replace(d, placements=tuple(pl))
        return kind, replace(sol, decisions=tuple(decisions))
    if kind in ("bad-slot", "bad-model"):
        i = rng.randrange(len(d.placements))
        aps = sorted(reachable) or [a.id for a in inst.aps]
        ap = inst.ap_by_id[rng.choice(aps)]
        if kind == "bad-slot" and ap.servers:
            server = rng.choice(ap.servers)
            p = Placement(d.placements[i].op, f"ap:{ap.id}", server.model, _slots(inst, ap.id, server.model))
        else:
            hosted = {x.model for x in ap.servers}
            p = Placement(
                d.placements[i].op, f"ap:{ap.id}", next(m.id for m in inst.models if m.id not in hosted)
            )
        pl = list(d.placements)
        pl[i] = p
        decisions[di] = replace(d, placements=tuple(pl))
        return kind, replace(sol, decisions=tuple(decisions))
    seqs = list(sol.sequences)
    si = rng.randrange(len(seqs))
    acts = list(seqs[si].activities)
    if kind == "drop-activity":
        acts.pop(rng.randrange(len(acts)))
    else:  # an activity listed twice, or on a second resource
        acts.insert(rng.randint(0, len(acts)), rng.choice([k for x in seqs for k in x.activities]))
    seqs[si] = Sequence(seqs[si].resource, tuple(acts))
    return kind, replace(sol, sequences=tuple(seqs))


# ---- tests ------------------------------------------------------------------------------------

STATS: dict[str, int] = {}


def _count(name: str) -> None:
    STATS[name] = STATS.get(name, 0) + 1


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances(), seed=st.integers(0, 2**32 - 1))
def test_solver_solutions_agree(inst: Instance, seed: int) -> None:
    rng = random.Random(seed)
    for name in SOLVERS:
        sol = solved(inst, name)
        if sol is None:
            continue
        for use_actual in (False, True):
            compare(inst, sol, use_actual)
            _count("solution")
        # perturbations: a chain of random changes, each judged by both sides
        cur = sol
        for _ in range(4):
            kind, cur = perturb(inst, cur, rng)
            ref, _ev = compare(inst, cur, use_actual=rng.random() < 0.5)
            _count(f"perturb-{kind}-{'infeasible' if ref.reason else 'ok'}")
            if ref.reason:
                cur = sol
        kind, bad = break_solution(inst, sol, rng)
        ref, _ev = compare(inst, bad, use_actual=False)
        assert ref.reason, kind
        _count(f"invalid-{kind}")


def test_explicit_topcuoglu_heft() -> None:
    inst = Instance.from_json(TOPCUOGLU)
    res = solve(inst, "heft")
    _ref, ev = compare(inst, res.solution, use_actual=False)
    assert ev.objective == pytest.approx(80.0)
    ref = Reference(inst).evaluate(res.solution)
    assert ref.objective == pytest.approx(80.0)
    rng = random.Random(7)
    for _ in range(40):
        _kind, sol = perturb_explicit(res.solution, rng)
        compare(inst, sol, use_actual=False)


def test_explicit_two_jobs_with_release() -> None:
    """Several jobs, releases, a processor an op cannot use: every solver, then swapped orders."""
    ex = ExplicitCosts(
        ("P1", "P2"),
        (
            ExplicitJob(
                "a",
                (ExplicitOp("x", (2.0, 3.0)), ExplicitOp("y", (4.0, None)), ExplicitOp("w", (1.0, 6.0))),
                (ExplicitEdge("x", "y", 5.0), ExplicitEdge("x", "w", 2.0)),
                release_s=1.0,
            ),
            ExplicitJob(
                "b",
                (ExplicitOp("z", (1.0, 1.5)), ExplicitOp("v", (3.0, 2.0))),
                (ExplicitEdge("z", "v", 1.0),),
                10.0,
            ),
        ),
    )
    inst = Instance(name="two-jobs", objective=Objective("makespan"), explicit=ex)
    rng = random.Random(3)
    for name in SOLVERS:
        res = solve(inst, name, **SOLVER_OPTIONS.get(name, {}))
        if res.solution is None:
            continue
        compare(inst, res.solution, use_actual=False)
        for _ in range(10):
            _kind, sol = perturb_explicit(res.solution, rng)
            compare(inst, sol, use_actual=False)


def perturb_explicit(sol: Solution, rng: random.Random) -> tuple[str, Solution]:
    """Swap two adjacent ops on a processor (may contradict precedence)."""
    seqs = [s for s in sol.sequences if len(s.activities) >= 2]
    s = rng.choice(seqs)
    acts = list(s.activities)
    i = rng.randrange(len(acts) - 1)
    acts[i], acts[i + 1] = acts[i + 1], acts[i]
    out = tuple(Sequence(x.resource, tuple(acts)) if x is s else x for x in sol.sequences)
    return "swap", replace(sol, sequences=out)


def test_reference_is_not_vacuous() -> None:
    """Reordering changes the schedule for both sides, and a contradiction is caught by both."""
    inst = Instance.from_json(TOPCUOGLU)
    sol = solve(inst, "heft").solution
    seqs = {s.resource: s.activities for s in sol.sequences}
    assert seqs["proc:P2"][:2] == ("dag/n4", "dag/n6")
    # n4 and n6 are independent: swapping them is valid and gives another makespan
    swapped = replace(
        sol,
        sequences=tuple(
            Sequence(r, ("dag/n6", "dag/n4", *a[2:]) if r == "proc:P2" else a) for r, a in seqs.items()
        ),
    )
    ref, ev = compare(inst, swapped, use_actual=False)
    assert ev.feasible and ref.objective != pytest.approx(80.0)
    # n1 precedes n3 (both on P3): the reverse order is a cycle
    cyc = replace(
        sol,
        sequences=tuple(
            Sequence(r, ("dag/n3", "dag/n1", *a[2:]) if r == "proc:P3" else a) for r, a in seqs.items()
        ),
    )
    ref, ev = compare(inst, cyc, use_actual=False)
    assert ref.reason == "cycle" and not ev.feasible


def test_channel_station_counts_follow_the_spec() -> None:
    """n_chan = users in range of any AP on the channel (docs/model.md); the reference relies on it."""
    for seed in range(5):
        inst = generate(
            "small", seed=seed, users=6, aps=3, channel_plan="co-channel" if seed % 2 else "separate"
        )
        for ch in inst.channels:
            on = {a.id for a in inst.aps if a.channel == ch.id}
            assert ch.n_stations == len({ln.user for ln in inst.links if ln.ap in on})
