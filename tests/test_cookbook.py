"""The cookbook's examples (examples/*.py) run and do what docs/cookbook.rst says."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import trio

import trio_dag as td
from trio_dag import testing as tdt

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(name: str, *args: str, timeout: float = 120) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"cookbook_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_system_retries_the_flaky_step_and_times_out_the_hung_one() -> None:
    out = run_example("build_system.py").splitlines()
    assert out == [
        "lexer.o   completed  attempts=1 -> 'lexer.o'",
        "parser.o  completed  attempts=2 -> 'parser.o'",
        "docs      failed     attempts=1",
        "app       completed  attempts=1 -> 'app <- lexer.o parser.o'",
        "docs failed with TooSlowError",
    ]


def test_cpu_pipeline_on_threads_and_processes() -> None:
    out = run_example("cpu_pipeline.py")
    assert out.startswith("8 chunks hashed, first ")
    assert out.rstrip().endswith("; 1862 primes")


def test_cluster_pipeline_runs_the_named_placement_on_a_local_dask_cluster() -> None:
    """The example starts (and closes) a LocalCluster of two worker processes."""
    out = run_example("cluster_pipeline.py", timeout=240).splitlines()
    assert out[0].startswith("8 chunks hashed, first ")
    assert out[0].endswith("; 1862 primes")
    assert out[1] == "hashed on the cluster's workers: True"  # not in the example's process


def test_the_cluster_dag_runs_anywhere_its_placement_name_is_bound() -> None:
    """The same class, ``"cluster"`` bound to threads (as a unit test would): same report."""
    example = load("cluster_pipeline")
    result = example.Checksums.run_sync({"count": 8}, placements={"cluster": td.InThread()})
    first = hashlib.sha256(bytes([0]) * 50_000 * 200).hexdigest()[:12]
    assert result["report"] == f"8 chunks hashed, first {first}; 1862 primes"
    assert {pid for pid, _ in result["hashes"]} == {os.getpid()}  # threads: this process


def test_stream_file_keeps_going_past_bad_lines() -> None:
    out = run_example("stream_file.py")
    assert out.strip() == "9990 rows, 1427 big, 10 bad, revenue 584239.50"


def test_http_server_answers_one_request_with_progress_and_result() -> None:
    out = run_example("http_server.py")
    lines = out.strip().splitlines()
    assert lines[0] == "HTTP/1.0 200 OK"
    first = lines[3].removeprefix("0/3 done, running ")
    assert sorted(first.split(", ")) == ["orders", "users"]
    assert lines[-1] == "result: 2026-11-26: 2 users, 42.5 revenue"


async def test_http_server_cancels_the_run_when_the_client_hangs_up() -> None:
    """The client hangs up while ``summary`` runs (it hangs until cancelled).

    It hangs up once the last progress line before ``summary`` came (no more
    would), so the server's only way out is to notice and cancel the run: the
    run neither finishes first nor does a write to the closed socket end the
    handler first, however slow the machine.
    """
    server = load("http_server")
    server.Report = tdt.hang(server.Report, "summary")
    handled = trio.Event()

    async def handle(stream: trio.SocketStream) -> None:
        await server.handle(stream)
        handled.set()

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            serve = functools.partial(trio.serve_tcp, handle, 0, host="127.0.0.1")
            listeners = await nursery.start(serve)
            port = listeners[0].socket.getsockname()[1]
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.send_all(b"GET /report?day=d HTTP/1.0\r\n\r\n")
            received = b""
            while b"running summary" not in received:
                received += await stream.receive_some(4096)
            await stream.aclose()  # hang up while the run goes on
            await handled.wait()
            nursery.cancel_scope.cancel()
    assert b"2/3 done, running summary\n" in received
    assert server.OUTCOMES == ["stopped: cancelled"]


@pytest.mark.parametrize("target", ["/nope", "/report"])
async def test_http_server_refuses_other_requests(target: str) -> None:
    server = load("http_server")
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            serve = functools.partial(trio.serve_tcp, server.handle, 0, host="127.0.0.1")
            listeners = await nursery.start(serve)
            port = listeners[0].socket.getsockname()[1]
            body = await server.get(port, target)
            nursery.cancel_scope.cancel()
    assert body.startswith("HTTP/1.0 404 Not Found")


def test_nightly_durable_job_continues_after_a_crash() -> None:
    out = run_example("nightly_durable.py").splitlines()
    assert out == [
        "attempt 1:",
        "  extract 2026-11-26",
        "  transform",
        "  publish: the process dies here",
        "  exit status 137",
        "attempt 2:",
        "  publish",
        "  statuses: extract=restored, transform=restored, publish=completed",
        "  result: 2026-11-26: total 45",
        "  exit status 0",
    ]
