"""Command-line plumbing shared by ``cli.py``, ``experiments/cli.py``, the sweep runner and the plots.

A leaf module: it imports nothing from offload_opt, so every layer may use it
without an import cycle. It holds the one-line error type, the one parser of
numbers and of option values every command uses (same messages everywhere),
atomic file writes that respect the umask, and the per-file lock of a
results table.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

EXIT_BAD_INPUT = 2


class CLIError(ValueError):
    """A user-facing error: printed as one line ``error: <message>``, exit code 2.

    A ValueError, so library callers that catch ValueError for bad input catch it too.
    """


def option_value(text: str) -> Any:
    """A solver option's value from the command line: JSON when it parses (numbers, true, null, lists),
    else the text itself (a solver name such as ``greedy``)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_number(
    flag: str,
    text: str | None,
    kind: Callable[[str], Any] = float,
    *,
    minimum: float | None = None,
    strict: bool = False,
    allow_none: bool = True,
) -> Any:
    """``text`` parsed as ``kind`` (int or float); CLIError naming ``flag`` when it is not a finite number
    in range (``>= minimum``, or ``> minimum`` with ``strict``). None stays None when ``allow_none``.

    Every command parses its numbers here (argparse gets strings), so that ``--time-limit abc`` gives the
    same one line, exit 2, on every command.
    """
    if text is None:
        if allow_none:
            return None
        raise CLIError(f"{flag}: a value is required")
    try:
        value = kind(text)
    except (ValueError, OverflowError):
        what = "an integer" if kind is int else "a number"
        raise CLIError(f"{flag}: expected {what}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise CLIError(f"{flag}: must be finite, got {text!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise CLIError(f"{flag}: must be {'>' if strict else '>='} {minimum:g}, got {text}")
    return value


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def parse_bool(flag: str, text: str | None) -> bool | None:
    """``text`` as a yes/no value (1/true/yes/on, 0/false/no/off, any case); CLIError naming ``flag`` else."""
    if text is None:
        return None
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise CLIError(f"{flag}: expected true or false, got {text!r}")


def scenario_value(flag: str, default: Any, text: str) -> Any:
    """A scenario knob's value from the command line, typed like its default (bool, int, float, text)."""
    if isinstance(default, bool):
        return parse_bool(flag, text)
    if isinstance(default, int):
        return parse_number(flag, text, int)
    if isinstance(default, float) or default is None:
        return parse_number(flag, text, float)
    return text


# what escapes a command when an input file is unreadable or absurd (too deep, too big, not UTF-8)
LAST_RESORT = (OSError, UnicodeDecodeError, RecursionError, OverflowError, MemoryError)


def read_input(path: str, load: Callable[[str], Any]) -> Any:
    """``load(path)``; an unreadable or absurd file (OSError, not UTF-8, nested too deep, numbers too big,
    out of memory) becomes one line naming the file instead of a traceback."""
    try:
        return load(path)
    except LAST_RESORT as exc:
        raise CLIError(f"{path}: cannot read ({describe_error(exc)})") from None


def describe_error(exc: BaseException) -> str:
    """A short, one-line description of ``exc`` (an OSError's strerror, else type and first line)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ---- files -------------------------------------------------------------------------------------


def _umask() -> int:
    """The process umask, read without changing it where /proc tells it (Linux), else set and restored."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def file_mode(path: str | Path) -> int:
    """Permission bits for a file written to ``path``: the existing file's, else 0666 minus the umask
    (what ``open(path, "w")`` would give; ``mkstemp`` alone gives 0600)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _label(path: Path, flag: str | None) -> str:
    return f"{flag} {path}" if flag else str(path)


def check_output_file(path: str | Path, flag: str | None = "-o") -> Path:
    """``path`` as a Path, or CLIError when no file can be written there: it is a directory, a parent is a
    file, or the nearest existing folder is not writable. Missing folders are fine (they are created).

    Call it before long work, so that a bad ``-o`` fails in one line before anything runs.
    """
    text = str(path)
    path = Path(path)
    if text.endswith(("/", os.sep)) or path.is_dir():
        raise CLIError(f"{_label(path, flag)}: is a directory")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise CLIError(f"{_label(path, flag)}: {folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CLIError(f"{_label(path, flag)}: permission denied")
    return path


@contextmanager
def atomic_target(path: str | Path, flag: str | None = "-o") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); when the body returns, the temporary file gets
    the mode ``file_mode(path)`` and is renamed onto ``path``; when anything fails it is removed, and
    ``path`` is untouched. Missing folders are created. OSError becomes a one-line CLIError naming ``path``.
    """
    path = check_output_file(path, flag)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + path.suffix)
        os.close(fd)
        yield Path(tmp)
        os.chmod(tmp, file_mode(path))
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise CLIError(f"{_label(path, flag)}: cannot write ({exc.strerror or type(exc).__name__})") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(path: str | Path, text: str, flag: str | None = "-o") -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename (never a half-written file)."""
    with atomic_target(path, flag) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)


_HELD: dict[str, tuple[Any, int]] = {}  # lock file -> (open handle, depth): re-entrant within a process


@contextmanager
def exclusive_lock(path: str | Path, what: str = "file") -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (a results table) while the body runs; CLIError at once when
    another process holds it. Re-entrant within one process.

    The lock is ``fcntl.flock`` on a hidden file ``.<name>.lock`` beside ``path`` (left in place: deleting
    it would let a third process lock a different file). Where ``fcntl`` is missing (Windows) nothing is
    locked: two runs on one table there can still lose each other's rows.
    """
    path = Path(path)
    lock = path.with_name(f".{path.name}.lock")
    key = os.path.abspath(lock)
    if key in _HELD:
        handle, depth = _HELD[key]
        _HELD[key] = (handle, depth + 1)
        try:
            yield
        finally:
            handle, depth = _HELD[key]
            _HELD[key] = (handle, depth - 1)
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock (documented above)
        yield
        return
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock, "a")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise CLIError(f"{path}: cannot create the lock file {lock} ({exc.strerror})") from None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise CLIError(
            f"{path}: another {what} is writing this file (lock {lock}); wait for it to finish or choose "
            "another -o"
        ) from None
    _HELD[key] = (handle, 1)
    try:
        yield
    finally:
        del _HELD[key]
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()
