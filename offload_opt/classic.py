"""Classic DAG-scheduling benchmarks in the explicit-cost form.

``from_heft_reference`` converts the published example of the HEFT paper
(Topcuoglu, Hariri, Wu, IEEE TPDS 13(3), 2002; shared/reference/heft_topcuoglu2002.json)
into an explicit-cost instance: three unrelated processors, a cost matrix, and
edge weights paid only between different processors (no link contention).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from offload_opt.instance import (
    ExplicitCosts,
    ExplicitEdge,
    ExplicitJob,
    ExplicitOp,
    Instance,
    Objective,
    read_json,
)


def from_heft_reference(data: dict[str, Any], key: str = "topcuoglu2002") -> Instance:
    ref = data[key]
    procs = tuple(ref["model"]["processors"])
    ops = tuple(
        ExplicitOp(t, tuple(float(ref["computation_cost"][t][p]) for p in procs)) for t in ref["tasks"]
    )
    edges = tuple(ExplicitEdge(e["src"], e["dst"], float(e["comm_cost"])) for e in ref["edges"])
    return Instance(
        name=key,
        objective=Objective(kind="makespan"),
        explicit=ExplicitCosts(procs, (ExplicitJob("dag", ops, edges),)),
        meta={
            "source": ref["source"],
            "published": {
                "heft_makespan": ref["heft"]["published_makespan"],
                "cpop_makespan": ref["cpop"]["published_makespan"],
            },
        },
    )


def convert_heft_reference(src: str | Path, dst: str | Path) -> Instance:
    """Read the reference JSON at ``src`` and write the explicit-cost instance to ``dst``."""
    inst = from_heft_reference(read_json(src))
    inst.to_json(dst)
    return inst
