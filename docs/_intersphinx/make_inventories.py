"""Write the small offline intersphinx inventories in this directory.

The docs link to Python, trio and outcome. Fetching their full inventories
needs the network at build time, which CI sandboxes and offline checkouts
do not have; so ``docs/conf.py`` reads these files instead, with the
projects' real URLs as the base: links point at the live documentation,
and the build is the same with or without a network.

Each inventory lists only the names these docs refer to (a few dozen, about
1 KB each), in the format of Sphinx's ``objects.inv`` (version 2). A docs
page that refers to a new trio or Python name needs a line below, then::

    python docs/_intersphinx/make_inventories.py

(``sphinx-build -n -W`` fails on a missing name, so the list cannot go
stale unnoticed.) An entry's URI is the page and anchor the project's own
Sphinx gives it (``$`` stands for the name).
"""

from __future__ import annotations

import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name, Sphinx role, page (anchor = name unless given)
PYTHON: list[tuple[str, str, str]] = [
    ("BaseException", "py:exception", "library/exceptions.html#$"),
    ("Exception", "py:exception", "library/exceptions.html#$"),
    ("ExceptionGroup", "py:exception", "library/exceptions.html#$"),
    ("BaseExceptionGroup", "py:exception", "library/exceptions.html#$"),
    ("KeyboardInterrupt", "py:exception", "library/exceptions.html#$"),
    ("KeyError", "py:exception", "library/exceptions.html#$"),
    ("RuntimeError", "py:exception", "library/exceptions.html#$"),
    ("TypeError", "py:exception", "library/exceptions.html#$"),
    ("ValueError", "py:exception", "library/exceptions.html#$"),
    ("OSError", "py:exception", "library/exceptions.html#$"),
    ("collections.abc.AsyncIterable", "py:class", "library/collections.abc.html#$"),
    ("collections.abc.AsyncIterator", "py:class", "library/collections.abc.html#$"),
    ("collections.abc.Callable", "py:class", "library/collections.abc.html#$"),
    ("collections.abc.Iterable", "py:class", "library/collections.abc.html#$"),
    ("collections.abc.Iterator", "py:class", "library/collections.abc.html#$"),
    ("collections.abc.Mapping", "py:class", "library/collections.abc.html#$"),
    ("collections.abc.Sequence", "py:class", "library/collections.abc.html#$"),
    ("concurrent.futures.Executor", "py:class", "library/concurrent.futures.html#$"),
    ("concurrent.futures.Future", "py:class", "library/concurrent.futures.html#$"),
    ("concurrent.futures.ProcessPoolExecutor", "py:class", "library/concurrent.futures.html#$"),
    ("concurrent.futures.ThreadPoolExecutor", "py:class", "library/concurrent.futures.html#$"),
    ("contextlib.AbstractAsyncContextManager", "py:class", "library/contextlib.html#$"),
    ("contextlib.asynccontextmanager", "py:function", "library/contextlib.html#$"),
    ("contextlib.AsyncExitStack", "py:class", "library/contextlib.html#$"),
    ("contextvars.ContextVar", "py:class", "library/contextvars.html#$"),
    ("enum.Enum", "py:class", "library/enum.html#$"),
    ("enum.StrEnum", "py:class", "library/enum.html#$"),
    ("logging", "py:module", "library/logging.html#module-logging"),
    ("logging.Logger", "py:class", "library/logging.html#$"),
    ("os.PathLike", "py:class", "library/os.html#$"),
    ("pathlib.Path", "py:class", "library/pathlib.html#$"),
    ("random.Random", "py:class", "library/random.html#$"),
    ("subprocess.CalledProcessError", "py:exception", "library/subprocess.html#$"),
    ("functools.partial", "py:function", "library/functools.html#$"),
    ("pickle", "py:module", "library/pickle.html#module-pickle"),
    ("sqlite3", "py:module", "library/sqlite3.html#module-sqlite3"),
]

TRIO: list[tuple[str, str, str]] = [
    ("trio.run", "py:function", "reference-core.html#$"),
    ("trio.sleep", "py:function", "reference-core.html#$"),
    ("trio.current_time", "py:function", "reference-core.html#$"),
    ("trio.open_nursery", "py:function", "reference-core.html#$"),
    ("trio.Nursery", "py:class", "reference-core.html#$"),
    ("trio.CancelScope", "py:class", "reference-core.html#$"),
    ("trio.Cancelled", "py:exception", "reference-core.html#$"),
    ("trio.fail_after", "py:function", "reference-core.html#$"),
    ("trio.move_on_after", "py:function", "reference-core.html#$"),
    ("trio.TooSlowError", "py:exception", "reference-core.html#$"),
    ("trio.Event", "py:class", "reference-core.html#$"),
    ("trio.Lock", "py:class", "reference-core.html#$"),
    ("trio.Semaphore", "py:class", "reference-core.html#$"),
    ("trio.CapacityLimiter", "py:class", "reference-core.html#$"),
    ("trio.open_memory_channel", "py:function", "reference-core.html#$"),
    ("trio.to_thread.run_sync", "py:function", "reference-core.html#$"),
    ("trio.from_thread.run_sync", "py:function", "reference-core.html#$"),
    ("trio.run_process", "py:function", "reference-io.html#$"),
    ("trio.serve_tcp", "py:function", "reference-io.html#$"),
    ("trio.open_tcp_stream", "py:function", "reference-io.html#$"),
    ("trio.SocketStream", "py:class", "reference-io.html#$"),
    ("trio.Path", "py:class", "reference-io.html#$"),
    ("trio.open_file", "py:function", "reference-io.html#$"),
    ("trio.testing", "py:module", "reference-testing.html#module-trio.testing"),
    ("trio.testing.MockClock", "py:class", "reference-testing.html#$"),
    ("trio.testing.wait_all_tasks_blocked", "py:function", "reference-testing.html#$"),
    ("trio.lowlevel.current_trio_token", "py:function", "reference-lowlevel.html#$"),
    ("trio.lowlevel.checkpoint", "py:function", "reference-lowlevel.html#$"),
]

OUTCOME: list[tuple[str, str, str]] = [
    ("outcome.Outcome", "py:class", "api.html#$"),
    ("outcome.Value", "py:class", "api.html#$"),
    ("outcome.Error", "py:class", "api.html#$"),
]

INVENTORIES = {
    "python": ("Python", "3", PYTHON),
    "trio": ("Trio", "stable", TRIO),
    "outcome": ("outcome", "latest", OUTCOME),
}


def inventory(project: str, version: str, entries: list[tuple[str, str, str]]) -> bytes:
    """One ``objects.inv`` (format version 2) for ``entries``."""
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    ).encode()
    body = "".join(f"{name} {role} 1 {uri} -\n" for name, role, uri in sorted(entries))
    return header + zlib.compress(body.encode(), 9)


def main() -> None:
    for key, (project, version, entries) in INVENTORIES.items():
        (HERE / f"{key}.inv").write_bytes(inventory(project, version, entries))


if __name__ == "__main__":
    main()
