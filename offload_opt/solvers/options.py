"""Every built-in solver's options, one frozen dataclass per solver, and their validation.

A solver declares its options as a frozen dataclass (listed in ``registry.py``);
``coerce_options`` turns a mapping of loose values into that dataclass once,
before the solver runs, so no solver reads raw keywords. Values are converted
by the declared field type, which makes the command line's text values and
Python values mean the same: ``windows="false"``, ``windows="False"`` and
``windows=False`` are all ``False``; ``mip_gap="0.5"`` is ``0.5``. Anything
that does not fit raises ``ValueError`` with one line naming the option, e.g.
``option windows: expected true or false, got 'maybe'``.

This module is the bottom of the solver layer: it imports nothing from the
solvers, so every solver module and the registry can import it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, Union

from offload_opt.solution import Solution

T = TypeVar("T")

TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")
NONE_WORDS = ("none", "null")

TaskOrder = Literal["spt", "release", "rank"]
LazyMode = Literal["none", "channels", "all", "full"]
LAZY_MODES: tuple[str, ...] = typing.get_args(LazyMode)
# heuristics the mip may warm-start from (mip/warm.py maps each to its function)
WARM_START_HEURISTICS = (
    "greedy",
    "local-search",
    "heft",
    "cpop",
    "best-single-mode",
    "nearest-edge",
    "local-only",
    "alns",
)


class OptionError(ValueError):
    """A solver option that is unknown or does not fit its declared type (a one-line message)."""


def _fail(name: str, expected: str, value: Any) -> OptionError:
    return OptionError(f"option {name}: expected {expected}, got {value!r}")


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a text"
    if tp is type(None):
        return "none"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        return "a list of names (e.g. a,b)"
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _coerce(name: str, tp: Any, value: Any) -> Any:
    """``value`` converted to the declared type ``tp``; OptionError if it does not fit."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args:
            if value is None or (isinstance(value, str) and value.strip().lower() in NONE_WORDS):
                return None
            if value is False and bool not in args:  # "off" for an optional feature (warm_start=False)
                return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(name, arg, value)
            except OptionError:
                continue
        raise _fail(name, _describe(tp), value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise _fail(name, "true or false", value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise _fail(name, "an integer", value)
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            out = float(value)
        elif isinstance(value, str):
            try:
                out = float(value.strip())
            except ValueError:
                raise _fail(name, "a number", value) from None
        else:
            raise _fail(name, "a number", value)
        if math.isnan(out):
            raise _fail(name, "a number", value)
        return out
    if tp is str:
        if isinstance(value, str):
            return value
        raise _fail(name, "a text", value)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if isinstance(value, str) and value.strip() in allowed:
            return value.strip()
        raise _fail(name, _describe(tp), value)
    if origin is tuple:  # tuple[str, ...]: a list, or one text with comma-separated names
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, list | tuple):
            items = list(value)
        else:
            raise _fail(name, _describe(tp), value)
        (item_tp, *_rest) = typing.get_args(tp)
        return tuple(_coerce(name, item_tp, v) for v in items)
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise _fail(name, _describe(tp), value)
    raise TypeError(f"option {name}: unsupported declared type {tp!r}")  # a bug in a declaration


def coerce_options(cls: type[T], solver: str, options: Mapping[str, Any] | T | None) -> T:
    """The options dataclass ``cls`` of ``solver`` built from ``options`` (a mapping, or an instance as is).

    Unknown keys and values that do not fit the declared field types raise a one-line
    ``OptionError`` (a ``ValueError``); range checks are the dataclass's ``__post_init__``.
    """
    if isinstance(options, cls):
        return options
    given: Mapping[str, Any] = {} if options is None else options  # type: ignore[assignment]
    if not isinstance(given, Mapping):
        raise OptionError(f"options of solver {solver!r}: expected a mapping, got {type(given).__name__}")
    hints = _type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, value in given.items():
        if key not in known:
            raise OptionError(
                f"option {key}: unknown option for solver {solver!r} (known: {', '.join(known) or 'none'})"
            )
        values[key] = _coerce(key, hints[key], value)
    return cls(**values)


_HINTS: dict[type, dict[str, Any]] = {}


def _type_hints(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints(cls)``, resolved once per options class (the simulator parses per epoch)."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _check(ok: bool, name: str, rule: str, value: Any) -> None:
    if not ok:
        raise OptionError(f"option {name}: must be {rule}, got {value!r}")


# ---------------------------------------------------------------------- the built-in solvers' options


@dataclass(frozen=True)
class NoOptions:
    """A solver without options (the baselines)."""


@dataclass(frozen=True)
class HeftOptions:
    """``heft`` / ``cpop``: ``mode`` forces every task's mode (default: decompose where it exists)."""

    mode: Literal["whole", "decompose", "dag"] | None = None


@dataclass(frozen=True)
class GreedyOptions:
    """``greedy``: the task priority order (greedy.py's module docstring compares them)."""

    order: TaskOrder = "spt"


DEFAULT_LS_TEMPERATURE = (
    0.05  # initial acceptance temperature relative to the objective scale (local_search.py)
)


@dataclass(frozen=True)
class LocalSearchOptions:
    """``local-search``: deterministic budgets (iterations, placements), greedy start order, temperature.

    With no ``max_iters`` and no time limit the budget is ``local_search.default_max_iters`` iterations
    and ``max_placements`` (None: ``local_search.DEFAULT_MAX_PLACEMENTS``, above ``local_search.LARGE_TASKS``
    tasks ``LARGE_MAX_PLACEMENTS``); with a
    time limit and no ``max_iters``, the time limit alone (machine-dependent).
    """

    max_iters: int | None = None
    order: TaskOrder = "spt"
    temperature: float = DEFAULT_LS_TEMPERATURE
    max_placements: int | None = None  # op placements of the re-scheduled suffixes; None: scaled by size

    def __post_init__(self) -> None:
        _check(self.max_iters is None or self.max_iters >= 0, "max_iters", "an integer >= 0", self.max_iters)
        _check(
            self.max_placements is None or self.max_placements >= 0,
            "max_placements",
            "an integer >= 0",
            self.max_placements,
        )
        _check(
            self.temperature >= 0 and math.isfinite(self.temperature), "temperature", ">= 0", self.temperature
        )


# constructive starts of the improvement heuristics (starts.py builds each), and alns's repair operators
CONSTRUCTIVE_STARTS: tuple[str, ...] = tuple(f"greedy-{o}" for o in typing.get_args(TaskOrder)) + (
    "best-single-mode",
    "nearest-edge",
    "local-only",
)
ALNS_REPAIRS: tuple[str, ...] = ("regret", "greedy", "random")


@dataclass(frozen=True)
class AlnsOptions:
    """``alns``: deterministic budgets (iterations, placements), destroy size, annealing and adaptation."""

    max_iters: int = 1000  # ruin-and-recreate iterations
    patience: int | None = None  # stop after this many iterations without a new best (None: never)
    # op placements and tentative insertions; None: 50,000 + 20 per op of the start (above alns.LARGE_TASKS
    # tasks: 10 per op)
    max_placements: int | None = None
    max_destroy: int = 4  # most tasks removed by one move
    temperature: float = 0.02  # start temperature, as a fraction of |start score| per task
    segment: int = 50  # iterations between weight updates
    reaction: float = 0.2  # weight of the last segment in the new operator weights
    mode_flip: float = 0.2  # probability that a repair forces one removed task into another mode
    # constructive starts the best one is searched from; None: all of them up to alns.LARGE_TASKS tasks,
    # else greedy (spt) and best-single-mode (each greedy order costs a full greedy run)
    starts: tuple[str, ...] | None = None
    repairs: tuple[str, ...] = ALNS_REPAIRS  # repair operators the adaptive choice draws from

    def __post_init__(self) -> None:
        _check(self.max_iters >= 0, "max_iters", "an integer >= 0", self.max_iters)
        _check(self.patience is None or self.patience >= 1, "patience", "an integer >= 1", self.patience)
        _check(
            self.max_placements is None or self.max_placements >= 0,
            "max_placements",
            "an integer >= 0",
            self.max_placements,
        )
        _check(self.max_destroy >= 1, "max_destroy", "an integer >= 1", self.max_destroy)
        _check(self.segment >= 1, "segment", "an integer >= 1", self.segment)
        _check(0 <= self.temperature < math.inf, "temperature", "a number >= 0", self.temperature)
        _check(0 <= self.reaction <= 1, "reaction", "in [0, 1]", self.reaction)
        _check(0 <= self.mode_flip <= 1, "mode_flip", "in [0, 1]", self.mode_flip)
        for name, names, allowed in (
            ("starts", self.starts, CONSTRUCTIVE_STARTS),
            ("repairs", self.repairs, ALNS_REPAIRS),
        ):
            ok = names is None and name == "starts" or bool(names) and set(names or ()) <= set(allowed)
            _check(ok, name, f"a non-empty subset of {', '.join(allowed)}", names)


@dataclass(frozen=True)
class CgOptions:
    """``cg``: time grid, gap, warm start, pricing and master settings (docs/cg.md has the table)."""

    grid: float | None = None  # seconds per period; None: 0.05 s up to 10 tasks, else 0.1 s
    mip_gap: float = 1e-4  # relative gap at which the incumbent counts as optimal
    warm_start: tuple[str, ...] | Solution | None = ("greedy", "local-search")
    warm_start_s: float | None = None  # seconds per warm-start heuristic (None: as the mip)
    columns_per_task: int = 3  # columns added per task and iteration (best first)
    smoothing: float = 0.5  # Wentges: price at alpha * best-bound duals + (1 - alpha) * LP duals
    integer_every: int = 10  # iterations between integer solves of the master (0: only at the end)
    integer_share: float = 0.2  # share of the time limit the integer solves may take in total
    max_iterations: int | None = None  # per pass (coarse, then fine)
    threads: int = 1
    coarse_grid: float | None = None  # seconds; None: max(0.5, 5 * grid); 0: no coarse pass
    coarse_share: float = 0.3  # share of the remaining time the coarse pass may take
    min_grid: float = 0.01  # seconds: a solved LP that leaves a gap is re-solved on halved grids down to this
    branching: bool = True  # branch-and-price when the root bound does not meet the incumbent
    node_limit: int | None = None  # nodes processed, the root included (None: until the time limit)
    node_integer_every: int = 5  # nodes between integer solves of a node's master (0: never)
    leaf_mip: bool = True  # a node with few assignments left goes to the MIP, which schedules exactly
    node_mip_assignments: float = 8  # "few": at most this many assignments (one combination per task)
    fixing: bool = True  # Lagrangian fixing: drop combinations that cannot beat the incumbent

    def __post_init__(self) -> None:
        fin = math.isfinite
        _check(
            self.grid is None or (fin(self.grid) and self.grid > 0),
            "grid",
            "a number of seconds > 0",
            self.grid,
        )
        _check(fin(self.mip_gap) and self.mip_gap >= 0, "mip_gap", "a number >= 0", self.mip_gap)
        if isinstance(self.warm_start, tuple):
            for name in self.warm_start:
                _check(
                    name in WARM_START_HEURISTICS,
                    "warm_start",
                    f"among {', '.join(WARM_START_HEURISTICS)}",
                    name,
                )
        _check(
            self.warm_start_s is None or (fin(self.warm_start_s) and self.warm_start_s > 0),
            "warm_start_s",
            "a number of seconds > 0",
            self.warm_start_s,
        )
        _check(self.columns_per_task >= 1, "columns_per_task", "an integer >= 1", self.columns_per_task)
        _check(0 <= self.smoothing < 1, "smoothing", "in [0, 1)", self.smoothing)
        _check(self.integer_every >= 0, "integer_every", "an integer >= 0", self.integer_every)
        _check(0 < self.integer_share <= 1, "integer_share", "in (0, 1]", self.integer_share)
        _check(
            self.max_iterations is None or self.max_iterations >= 0,
            "max_iterations",
            "an integer >= 0",
            self.max_iterations,
        )
        _check(self.threads >= 1, "threads", "an integer >= 1", self.threads)
        _check(
            self.coarse_grid is None or (fin(self.coarse_grid) and self.coarse_grid >= 0),
            "coarse_grid",
            "a number of seconds >= 0",
            self.coarse_grid,
        )
        _check(0 < self.coarse_share < 1, "coarse_share", "in (0, 1)", self.coarse_share)
        _check(fin(self.min_grid) and self.min_grid > 0, "min_grid", "a number of seconds > 0", self.min_grid)
        _check(isinstance(self.branching, bool), "branching", "true or false", self.branching)
        _check(
            self.node_limit is None or (isinstance(self.node_limit, int) and self.node_limit >= 1),
            "node_limit",
            "an integer >= 1",
            self.node_limit,
        )
        _check(self.node_integer_every >= 0, "node_integer_every", "an integer >= 0", self.node_integer_every)
        _check(isinstance(self.leaf_mip, bool), "leaf_mip", "true or false", self.leaf_mip)
        _check(
            self.node_mip_assignments >= 1, "node_mip_assignments", "a number >= 1", self.node_mip_assignments
        )
        _check(isinstance(self.fixing, bool), "fixing", "true or false", self.fixing)

    def grid_for(self, n_tasks: int) -> float:
        """The fine grid (seconds per period) for an instance of ``n_tasks`` tasks."""
        if self.grid is not None:
            return float(self.grid)
        return 0.05 if n_tasks <= 10 else 0.1

    def coarse_grid_for(self, grid_s: float) -> float | None:
        """The coarse pass's grid for fine grid ``grid_s``; None: no coarse pass."""
        if self.coarse_grid == 0:
            return None
        coarse = float(self.coarse_grid) if self.coarse_grid is not None else max(0.5, 5 * grid_s)
        return coarse if coarse > grid_s else None


@dataclass(frozen=True)
class CpsatOptions:
    """``cpsat``: CP-SAT workers, the heuristic whose schedule is a complete hint (None: no hint), its log."""

    threads: int = 2
    warm_start: str | None = "heft"
    log: bool = False

    def __post_init__(self) -> None:
        _check(self.threads >= 1, "threads", "an integer >= 1", self.threads)
        _check(
            self.warm_start is None or self.warm_start in WARM_START_HEURISTICS,
            "warm_start",
            f"none or one of {', '.join(WARM_START_HEURISTICS)}",
            self.warm_start,
        )


@dataclass(frozen=True)
class TimeIndexedOptions:
    """``time-indexed``: HiGHS threads, the heuristic whose schedule is the incumbent (None: none), and the
    largest time-indexed model (binary start columns) it builds."""

    threads: int = 1
    warm_start: str | None = "local-search"
    max_columns: int = 400_000

    def __post_init__(self) -> None:
        _check(self.threads >= 1, "threads", "an integer >= 1", self.threads)
        _check(self.max_columns >= 1, "max_columns", "an integer >= 1", self.max_columns)
        _check(
            self.warm_start is None or self.warm_start in WARM_START_HEURISTICS,
            "warm_start",
            f"none or one of {', '.join(WARM_START_HEURISTICS)}",
            self.warm_start,
        )


@dataclass(frozen=True)
class MipOptions:
    """Options of the ``mip`` solver (docs/mip.md has the table).

    ``warm_start``: names of heuristics whose best evaluated solution starts the search, a given
    ``Solution``, or None (also ``False`` / ``"none"``) for no warm start.
    """

    mip_gap: float = 1e-4
    threads: int | None = None
    warm_start: tuple[str, ...] | Solution | None = ("greedy", "local-search")
    warm_start_s: float | None = None
    max_mean_latency: float | None = None
    min_mean_accuracy: float | None = None
    fix: Solution | None = None
    lazy: LazyMode = "all"
    windows: bool = True
    symmetry: bool = True
    server_cuts: bool = True
    bound_cuts: bool = True
    log: bool = False
    time_grid: float | None = 0.5
    floor_passes: int = 2
    content: bool = True
    # share of the time limit a ``cg`` run gets first (0: none); its incumbent is the warm start and
    # its bound caps the objective (docs/mip.md, "Hand-over from cg")
    cg_share: float = 0.0
    cg_cut: bool = True  # with cg_share: add the cut reward <= cg's bound to the model (False: bound only reported)

    def __post_init__(self) -> None:
        _check(self.mip_gap >= 0 and math.isfinite(self.mip_gap), "mip_gap", "a number >= 0", self.mip_gap)
        _check(0 <= self.cg_share < 1, "cg_share", "in [0, 1)", self.cg_share)
        if isinstance(self.warm_start, tuple):
            for name in self.warm_start:
                if name not in WARM_START_HEURISTICS:
                    raise OptionError(
                        f"option warm_start: unknown heuristic {name!r} (known: {', '.join(WARM_START_HEURISTICS)})"
                    )
        _check(self.threads is None or self.threads >= 0, "threads", "an integer >= 0", self.threads)
        _check(
            self.warm_start_s is None or (self.warm_start_s > 0 and math.isfinite(self.warm_start_s)),
            "warm_start_s",
            "a number of seconds > 0",
            self.warm_start_s,
        )
        _check(
            self.time_grid is None or (math.isfinite(self.time_grid) and self.time_grid > 0),
            "time_grid",
            "a number of seconds > 0 or none",
            self.time_grid,
        )
        _check(self.floor_passes >= 0, "floor_passes", "an integer >= 0", self.floor_passes)
        if self.max_mean_latency is not None and self.min_mean_accuracy is not None:
            raise OptionError("option max_mean_latency, min_mean_accuracy: give at most one")
        _check(
            self.max_mean_latency is None or self.max_mean_latency >= 0,
            "max_mean_latency",
            ">= 0",
            self.max_mean_latency,
        )
        _check(
            self.min_mean_accuracy is None or 0 <= self.min_mean_accuracy <= 1,
            "min_mean_accuracy",
            "in [0, 1]",
            self.min_mean_accuracy,
        )
