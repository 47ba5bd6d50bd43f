"""Prefect 3: a ``@flow`` submitting one ``@task`` per node, on its ephemeral local server.

The environment is set before :mod:`prefect` is imported (its settings are read
then): a fresh temporary ``PREFECT_HOME`` (so the server's SQLite database
starts empty and nothing of the user's profile is used), no
``PREFECT_API_URL`` (so Prefect starts its own ephemeral server, a uvicorn
subprocess on 127.0.0.1), analytics and telemetry off, and task-run logs at
``WARNING`` (two INFO lines a task would otherwise flood the terminal; the
server still records every flow and task run and its states).

A run is one flow run: every node is ``task.submit(*parent_futures)`` on the
flow's default ``ThreadPoolTaskRunner`` (Prefect resolves the futures passed as
arguments, which is both the dependency and the data), then ``.result()`` of
every future. The per-run cost therefore includes creating one flow run;
:func:`start` times the server's start-up (the first flow run) and the fixed
cost of an empty flow run apart.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

HOME = tempfile.mkdtemp(prefix="trio-dag-prefect-home-")
os.environ.pop("PREFECT_API_URL", None)
os.environ.update(
    {
        "PREFECT_HOME": HOME,
        "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        # on the shared 2-core machine the server can take over a minute to come up
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "600",
    }
)

from prefect import flow, task  # noqa: E402  (after the environment above)

from peers import Parents, Runner, sync_runner  # noqa: E402


@task
def _f0() -> int:
    return 1


@task
def _f1(a: Any) -> int:
    return 1


@task
def _f2(a: Any, b: Any) -> int:
    return 1


_BY_ARITY: tuple[Any, ...] = (_f0, _f1, _f2)


@flow(name="trio-dag-empty")
def _empty() -> int:
    return 1


_started = False


def start() -> dict[str, float]:
    """Start the ephemeral server (once); seconds of the first and of one more empty flow run."""
    global _started
    if _started:
        return {}
    os.makedirs(HOME, exist_ok=True)  # again, after a stop()
    t0 = time.perf_counter()
    _empty()
    t1 = time.perf_counter()
    _empty()
    _started = True
    return {"server_and_first_flow": t1 - t0, "empty_flow": time.perf_counter() - t1}


def stop() -> None:
    """Stop the ephemeral server and remove the temporary ``PREFECT_HOME``.

    The server may log errors about events it was still writing when it is
    stopped (``task_run_recorder - Error flushing``): harmless here.
    """
    global _started
    from prefect.server.api.server import SubprocessASGIServer

    SubprocessASGIServer().stop()
    shutil.rmtree(HOME, ignore_errors=True)
    _started = False


def layered_flow(parents: Parents) -> Callable[[], list[Any]]:
    """The flow running ``parents`` (at most two parents a node): one task run per node."""

    @flow(name=f"trio-dag-layered-{len(parents)}")
    def layered() -> list[Any]:
        futures: list[Any] = []
        for ps in parents:
            futures.append(_BY_ARITY[len(ps)].submit(*[futures[p] for p in ps]))
        return [f.result() for f in futures]

    return layered


def prepare(parents: Parents) -> Runner:
    """The Prefect runner of ``parents`` (starts the server if needed)."""
    start()
    return sync_runner(layered_flow(parents))
