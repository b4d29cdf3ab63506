"""HiGHS's one global task scheduler per process, shared by every solver that runs HiGHS.

HiGHS starts a global scheduler with the thread count of the first run in a
process and makes a later run asking for another count fail (status "Not
Set"): a ``cg`` solve after a ``mip`` solve in one Python session did. Every
solver that sets HiGHS's ``threads`` goes through ``use_threads``.
"""

from __future__ import annotations

import highspy

_scheduler_threads: list[int] = []  # thread count HiGHS's global scheduler was started with


def use_threads(threads: int | None) -> int:
    """The ``threads`` option value to set (0: HiGHS's default); restarts the global scheduler when
    the count differs from the one it runs with."""
    n = 0 if threads is None else int(threads)
    if _scheduler_threads and _scheduler_threads[0] != n:
        highspy.Highs.resetGlobalScheduler(True)
    _scheduler_threads[:] = [n]
    return n
