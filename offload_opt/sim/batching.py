"""What the slot abstraction of an edge GPU costs: a continuous-batching replay of one schedule.

The solvers and the evaluator see a GPU as B identical unary slots and time every op on it at
batch B (docs/model.md "Edge serving"). A real server batches continuously: its active streams
share the GPU, and each decodes at the per-stream speed of the *current* concurrency. This
module replays a solution's decisions in such a discrete-event simulation and reports the
latency each task would really have, so that ``benchmarks/bench_batching.py`` can measure the
error of the abstraction.

Replay rules (the same decisions, nothing re-planned):

- devices, channels and backhaul keep the evaluator's semantics: fixed durations, the
  solution's order on every device and channel;
- the ops on one GPU are admitted first come, first served in the order of their start times in
  the evaluator's (slot) schedule, each once its data has arrived, the GPU's backlog has passed
  and fewer than B streams are active;
- an admitted stream first runs ``setup_s + in_tokens / prefill_tps`` (prefill at the batch-1
  rate, as in the cost tables), then decodes its output tokens; while it is admitted it counts
  towards the GPU's concurrency n, and its model is "running". Each decoding stream advances at
  one token per ``physics.llm.decode_token_time_s(decode_tps, batch_slope, n, weights of the
  other running models, mem_bandwidth_gbps)`` (processor sharing, rates fixed between events).

With B = 1 both timings coincide (tests/test_gpu.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from offload_opt.costs import SINK, SOURCE, CostTables
from offload_opt.evaluator import Evaluation
from offload_opt.instance import Instance
from offload_opt.physics.llm import decode_token_time_s
from offload_opt.solution import Solution, decisions_to_assignments, flow_key, op_key

EPS_S = 1e-12


@dataclass
class _Act:
    key: str
    task: int
    duration_s: float
    ready_s: float
    resource: str | None
    preds: list[int] = field(default_factory=list)
    seq_pred: int = -1
    gpu: str | None = None  # "<ap>:<gpu>" for an op on a shared GPU
    model: str | None = None
    fixed_s: float = 0.0  # setup + prefill (GPU ops)
    out_tokens: float = 0.0  # decoded tokens (GPU ops)
    end_s: float | None = None


@dataclass
class _Gpu:
    slots: int
    backlog_s: float
    slope: float
    bandwidth_gbps: float
    order: list[int]
    next: int = 0
    active: dict[int, list[float]] = field(default_factory=dict)  # act -> [prefill end, tokens left]


@dataclass(frozen=True)
class BatchingReplay:
    """Per task: latency under the slot abstraction (the evaluator's) and under continuous batching."""

    slot_latency_s: dict[str, float]
    batched_latency_s: dict[str, float]

    def relative_errors(self) -> list[float]:
        """(slot - batched) / batched per task: > 0 where the abstraction is pessimistic."""
        return [(self.slot_latency_s[t] - b) / b if b > 0 else 0.0 for t, b in self.batched_latency_s.items()]


def replay_batched(
    instance: Instance, costs: CostTables, solution: Solution, ev: Evaluation
) -> BatchingReplay:
    """Replay ``solution`` (feasible, evaluated as ``ev`` on ``costs``) with continuous batching on every GPU."""
    if not ev.feasible:
        raise ValueError("solution: the evaluator rejects it; only a feasible schedule can be replayed")
    acts, finals, gpus = _build(instance, costs, solution, ev)
    _run(acts, gpus, instance, costs)
    batched = {}
    for ti, ks in finals.items():
        task = costs.tasks[ti]
        end = max(acts[k].end_s or 0.0 for k in ks)
        batched[task.id] = end - task.release_s
    slot = {m.task: m.latency_s for m in ev.tasks}
    return BatchingReplay(slot, batched)


def _build(instance, costs, solution, ev):
    assignments = decisions_to_assignments(costs, solution)
    acts: list[_Act] = []
    index: dict[str, int] = {}
    finals: dict[int, list[int]] = {}
    gpu_ops: dict[str, list[int]] = {}
    for ti in sorted(assignments):
        a = assignments[ti]
        task = costs.tasks[ti]
        mode = task.modes[a.mode]
        opts = [mode.ops[i].options[a.options[i]] for i in range(len(mode.ops))]
        nodes = [o.node for o in opts]
        op_ids = []
        for i, op in enumerate(mode.ops):
            o = opts[i]
            act = _Act(
                op_key(task.id, op.name), ti, o.duration_s, max(task.release_s, o.ready_s), a.resources[i]
            )
            if o.node.startswith("ap:") and o.model is not None:
                ap = instance.ap_by_id[o.node.removeprefix("ap:")]
                srv = next(s for s in ap.servers if s.model == o.model)
                if srv.gpu is not None:
                    act.gpu = f"{ap.id}:{srv.gpu}"
                    act.model = o.model
                    act.out_tokens, act.fixed_s = _split(costs, task, mode, a, i, instance, ap, o.model)
                    gpu_ops.setdefault(act.gpu, []).append(len(acts))
            index[act.key] = len(acts)
            op_ids.append(len(acts))
            acts.append(act)
        for f in mode.flows:
            tr = costs.transfer(
                f, costs.endpoint_node(task, nodes, f.src), costs.endpoint_node(task, nodes, f.dst)
            )
            # as in the evaluator: no earlier than the channel is free of committed transfers
            act = _Act(
                flow_key(task.id, mode, f), ti, tr.duration_s, max(task.release_s, tr.ready_s), tr.channel
            )
            k = len(acts)
            index[act.key] = k
            acts.append(act)
            if f.src != SOURCE:
                act.preds.append(op_ids[f.src])
            if f.dst == SINK:
                finals.setdefault(ti, []).append(k)
            else:
                acts[op_ids[f.dst]].preds.append(k)
    for seq in solution.sequences:
        prev = -1
        for key in seq.activities:
            k = index[key]
            if acts[k].gpu is None:
                acts[k].seq_pred = prev
                prev = k
    gpus: dict[str, _Gpu] = {}
    for name, ops in gpu_ops.items():
        ap_id, gpu_id = name.split(":", 1)
        g = instance.ap_by_id[ap_id].gpu_by_id[gpu_id]
        ops.sort(key=lambda k: (ev.schedule[acts[k].key].start_s, acts[k].key))
        backlog = max(0.0, g.queue_backlog_s - costs.time_origin_s)
        gpus[name] = _Gpu(g.slots, backlog, g.batch_slope, g.mem_bandwidth_gbps, ops)
    return acts, finals, gpus


def _split(costs, task, mode, a, i, instance, ap, model) -> tuple[float, float]:
    """(decoded tokens, setup + prefill seconds) of op i: its duration minus the decode part at batch B."""
    o = mode.ops[i].options[a.options[i]]
    out_tokens = _out_tokens(costs, task, mode, i)
    grp = ap.group_of_model[model]
    g = ap.gpu_by_id[grp.id]
    sp = instance.speed_of[(ap.hardware, model)]
    others = tuple(instance.speed_of[(ap.hardware, m)].weights_gb for m in grp.models if m != model)
    token_s = decode_token_time_s(sp.decode_tps, g.batch_slope, g.slots, others, g.mem_bandwidth_gbps)
    return out_tokens, max(0.0, o.duration_s - out_tokens * token_s)


def _out_tokens(costs: CostTables, task, mode, i: int) -> float:
    """Output tokens of op i: the size of its outgoing text flows, or (no flow out) from the instance."""
    inst = costs.instance
    t = inst.tasks[costs.task_index[task.id]]
    op = mode.ops[i]
    if mode.name == "whole":
        w = t.whole
        return float(costs._value(w.output_tokens, w.actual, "output_tokens"))
    dec = t.decomposition
    assert dec is not None
    if op.is_aggregation:
        agg = dec.aggregation
        return float(costs._value(agg.output_tokens, agg.actual, "output_tokens"))
    s = dec.subtasks[i]
    return float(costs._value(s.output_tokens, s.actual, "output_tokens"))


def _ends(acts: list[_Act], idxs: list[int]) -> list[float] | None:
    """End times of activities ``idxs``, or None while one of them has not ended."""
    out = []
    for p in idxs:
        end = acts[p].end_s
        if end is None:
            return None
        out.append(end)
    return out


def _run(acts: list[_Act], gpus: dict[str, _Gpu], instance: Instance, costs: CostTables) -> None:
    """Event loop: fixed-duration activities resolve as soon as their predecessors have; GPU streams
    advance in time order under processor sharing."""
    hw_of = {f"{a.id}:{g.id}": a for a in instance.aps for g in a.gpus}

    def resolve() -> None:
        changed = True
        while changed:
            changed = False
            for act in acts:
                if act.end_s is not None or act.gpu is not None:
                    continue
                ends = _ends(acts, act.preds + ([act.seq_pred] if act.seq_pred >= 0 else []))
                if ends is not None:
                    act.end_s = max([act.ready_s, *ends]) + act.duration_s
                    changed = True

    def token_s(name: str, k: int) -> float:
        g = gpus[name]
        ap = hw_of[name]
        model = acts[k].model
        assert model is not None
        running = {acts[j].model for j in g.active} - {model}
        others = tuple(instance.speed_of[(ap.hardware, m)].weights_gb for m in running if m is not None)
        sp = instance.speed_of[(ap.hardware, model)]
        return decode_token_time_s(sp.decode_tps, g.slope, len(g.active), others, g.bandwidth_gbps)

    now = 0.0
    resolve()
    while True:
        best_t, best = math.inf, None
        for name, g in gpus.items():
            if g.next < len(g.order) and len(g.active) < g.slots:
                k = g.order[g.next]
                ends = _ends(acts, acts[k].preds)
                if ends is not None:
                    t = max([now, acts[k].ready_s, g.backlog_s, *ends])
                    if t < best_t:
                        best_t, best = t, ("admit", name, k)
            for k, (pre_end, left) in g.active.items():
                t = pre_end if pre_end > now else now + left * token_s(name, k)
                if t < best_t:
                    best_t, best = t, ("step", name, k)
        if best is None:
            break
        # advance every decoding stream to best_t at the current rates
        for name, g in gpus.items():
            for k, st in g.active.items():
                if st[0] <= now:
                    st[1] = max(0.0, st[1] - (best_t - now) / token_s(name, k))
        now = best_t
        kind, name, k = best
        g = gpus[name]
        if kind == "admit":
            g.next += 1
            g.active[k] = [now + acts[k].fixed_s, acts[k].out_tokens]
        for j, st in list(g.active.items()):  # finish every stream done by now (the chosen one included)
            if st[0] <= now + EPS_S and st[1] <= EPS_S * max(1.0, acts[j].out_tokens):
                acts[j].end_s = now
                del g.active[j]
        resolve()
    missing = [a.key for a in acts if a.end_s is None]
    if missing:
        raise RuntimeError(f"batching replay: {len(missing)} activities never ran (first {missing[0]!r})")
