"""The ``trio-dag`` command line: exit codes, output, Ctrl-C.

A few tests run the command as a subprocess (exit codes and signals as a
shell sees them); the rest call ``main`` in-process, which is faster.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from trio_dag._cli import main

WORKFLOWS = Path(__file__).resolve().parents[1] / "data" / "workflows"
SRC = Path(__file__).resolve().parents[1] / "src"

FLOWS = textwrap.dedent(
    """
    import os, signal, sys, time
    import trio
    import trio_dag as td

    class Hello(td.DAG):
        who = td.input(default="world")
        n = td.input(default=1)

        @td.node
        async def greet(who):
            await trio.sleep(0.01)
            return f"hello {who}"

        @td.node
        async def twice(greet, n):
            return [greet] * n

    class Slow(td.DAG):
        @td.node
        async def fast():
            return 1

        @td.node
        async def slow(fast):
            await trio.sleep(60)

    class Bad(td.DAG):
        @td.node
        async def ok():
            return 1

        @td.node
        async def boom(ok):
            raise ValueError("kaput")

    class Odd(td.DAG):
        @td.node
        async def thing():
            return {1, 2}

    class Markup(td.DAG):
        @td.node
        async def shout():
            raise ValueError("[bold]not markup[/] [/]")

    class SelfInterrupt(td.DAG):
        @td.node
        async def done():
            return "kept"

        @td.node
        async def ctrl_c(done):
            os.kill(os.getpid(), signal.SIGINT)   # as if the user pressed Ctrl-C now
            await trio.sleep(60)

    class Blocking(td.DAG):
        @td.node
        async def first():
            return 1

        @td.node
        async def stuck(first):
            print("blocking now", file=sys.stderr, flush=True)
            time.sleep(30)   # blocking code never sees a cancellation

    not_a_dag = 3
    """
)

CYCLIC = textwrap.dedent(
    """
    import trio_dag as td

    class Loop(td.DAG):
        @td.node
        async def a(b): ...

        @td.node
        async def b(a): ...
    """
)


@pytest.fixture
def flows(tmp_path: Path) -> str:
    path = tmp_path / "flows.py"
    path.write_text(FLOWS, encoding="utf-8")
    return str(path)


def _cli(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "120"}
    return subprocess.Popen(
        [sys.executable, "-m", "trio_dag", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )


# ---------------------------------------------------------------- as a subprocess


def test_run_prints_json_and_exits_0(flows: str) -> None:
    p = _cli("run", f"{flows}:Hello", "-i", "who=ann", "-i", "n=2", "--json")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    doc = json.loads(out)
    assert doc["status"] == "completed"
    assert doc["results"] == {"greet": "hello ann", "twice": ["hello ann", "hello ann"]}
    assert doc["statuses"] == {"greet": "completed", "twice": "completed"}
    assert "started  greet" in err  # not a terminal: one line per event, on stderr
    assert "run " in err
    assert "completed" in err  # the summary table goes to stderr with --json


def test_a_failed_run_exits_1_with_the_report(flows: str) -> None:
    p = _cli("run", f"{flows}:Bad", "--no-progress")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 1
    assert "node 'boom' failed after 1 attempt: ValueError: kaput" in err
    assert "completed (kept, resume() reuses them): ok" in err
    assert "boom" in out  # the summary table
    assert "started" not in err  # --no-progress: no event lines


def test_validate_exits_2_with_the_definition_error(tmp_path: Path) -> None:
    (tmp_path / "loop.py").write_text(CYCLIC, encoding="utf-8")
    p = _cli("validate", "loop:Loop", cwd=tmp_path)  # a dotted module, from the current dir
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2
    assert "invalid DAG definition" in err
    assert "a -> b -> a" in err or "b -> a -> b" in err
    assert out == ""


def test_ctrl_c_cancels_the_run_prints_the_partial_report_and_exits_130(flows: str) -> None:
    p = _cli("run", f"{flows}:Slow")
    assert p.stderr is not None
    lines = []
    for line in p.stderr:  # wait until the slow node has started
        lines.append(line)
        if "started  slow" in line:
            break
    else:  # pragma: no cover - the run ended before "slow" started
        pytest.fail("".join(lines))
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    assert "interrupted: cancelling the run" in err
    assert "cancelled: 1 completed, 1 cancelled" in err
    assert "completed (kept, resume() reuses them): fast" in err
    assert re.search(r"slow\s+│\s+cancelled", out)  # the summary table


def test_a_second_ctrl_c_stops_blocking_node_code_at_once(flows: str) -> None:
    p = _cli("run", f"{flows}:Blocking")
    assert p.stderr is not None
    for line in p.stderr:  # pragma: no branch - wait until the node blocks
        if "blocking now" in line:
            break
    p.send_signal(signal.SIGINT)  # the first one cancels: the blocking node never notices
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)  # the second one raises KeyboardInterrupt inside it
    _, err = p.communicate(timeout=20)  # long before the node's 30 s
    assert p.returncode == 130, err
    assert "completed (kept, resume() reuses them): first" in err


def test_python_m_trio_dag_help_has_no_rest_markup() -> None:
    p = _cli("--help")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    for command in ("run", "graph", "validate", "replay", "demo"):
        assert command in out
    assert "Exit status: 0 done, 1 the run failed" in out
    assert "``" not in out
    assert not re.search(r":(class|meth|func|attr|mod|data):", out)


# ---------------------------------------------------------------- in-process


@pytest.mark.parametrize("command", ["run", "graph", "validate", "replay", "demo"])
def test_help_of_each_command_is_plain_text(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"Usage: trio-dag {command}" in out
    assert "``" not in out
    assert not re.search(r":(class|meth|func|attr|mod|data):", out)


def test_run_table_and_final_values(flows: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", f"{flows}:Hello", "-i", 'who="007"', "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"greet\s+│\s+completed\s+│\s+1 │", out)
    assert "twice = ['hello 007']" in out  # "007" in JSON quotes stays a string


def test_input_values_are_json_else_strings(
    flows: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "in.json"
    file.write_text('{"who": "file", "n": 3}', encoding="utf-8")
    args = ["run", f"{flows}:Hello", "--inputs", str(file), "-i", "n=2", "--json"]
    assert main([*args, "--no-progress"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["results"]["twice"] == ["hello file", "hello file"]  # -i overrides the file
    assert main(["run", f"{flows}:Hello", "-i", "who=2026-11-26", "--json", "--no-progress"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["results"]["greet"] == "hello 2026-11-26"  # not JSON: a string


def test_messages_are_printed_as_they_are(flows: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", f"{flows}:Markup"]) == 1
    err = capsys.readouterr().err
    assert "FAILED   shout attempt 1: ValueError: [bold]not markup[/] [/]; gave up" in err
    assert "failed after 1 attempt: ValueError: [bold]not markup[/] [/]" in err


def test_values_json_cannot_represent_are_written_as_repr(
    flows: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", f"{flows}:Odd", "--json", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == {"thing": "{1, 2}"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "who"], "-i: expected NAME=VALUE, got 'who'"),
        (["-i", "nope=1"], "unknown input(s) 'nope'"),
        (["--inputs", "missing.json"], "--inputs: cannot read missing.json"),
        (["--strategy", "sequential", "--max-concurrency", "2"], "does not apply"),
        (["--timeline", "/no/such/dir/t.svg"], "--timeline: the directory"),
    ],
)
def test_bad_inputs_and_options_exit_2(
    flows: str, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", f"{flows}:Hello", "--no-progress", *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [("[1, 2]", "must hold a JSON object"), ("{nope", "is not valid JSON")],
)
def test_a_bad_inputs_file_exits_2(
    flows: str, tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "in.json"
    file.write_text(content, encoding="utf-8")
    assert main(["run", f"{flows}:Hello", "--inputs", str(file)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("{flows}", "defines several DAGs; name one: {flows}:Hello"),
        ("{flows}:Nope", "has no attribute 'Nope'; its DAGs: Hello, Slow, Bad"),
        ("{flows}:not_a_dag", "is 3, not a trio_dag.DAG subclass"),
        ("no_such_module_xyz:D", "no module named 'no_such_module_xyz'"),
        ("{tmp}/absent.py:D", "no such file"),
        (":D", "expected MODULE:DAG"),
        ("{tmp}/raises.py:D", "RuntimeError: at import"),
        ("{tmp}/empty.py", "defines no trio_dag.DAG class"),
        ("{tmp}/empty.py:y", "has no attribute 'y'; it defines no DAG"),
    ],
)
def test_a_dag_that_cannot_be_loaded_exits_2(
    flows: str, tmp_path: Path, target: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "raises.py").write_text("raise RuntimeError('at import')\n", encoding="utf-8")
    (tmp_path / "empty.py").write_text("x = 1\n", encoding="utf-8")
    fill = {"flows": flows, "tmp": str(tmp_path)}
    assert main(["validate", target.format(**fill)]) == 2
    assert message.format(**fill) in capsys.readouterr().err


def test_the_only_dag_of_a_module_needs_no_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "one.py").write_text(
        "import trio_dag as td\nclass One(td.DAG):\n    x = td.input()\n"
        "    @td.node\n    async def y(x): return x\n",
        encoding="utf-8",
    )
    assert main(["validate", str(tmp_path / "one.py")]) == 0
    out = capsys.readouterr().out
    assert out == "DAG One is valid: 1 nodes, 1 edges, 1 levels; inputs: x (required)\n"


def test_graph_prints_mermaid_or_dot(flows: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", f"{flows}:Hello"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart TD\n")
    assert '["greet"]' in out
    assert main(["graph", f"{flows}:Hello", "--format", "dot"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('digraph "Hello" {')
    assert '"greet" -> "twice";' in out


def test_validate_prints_the_shape(flows: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", f"{flows}:Hello"]) == 0
    assert capsys.readouterr().out == (
        "DAG Hello is valid: 2 nodes, 3 edges, 2 levels; inputs: who='world', n=1\n"
    )


def test_trace_and_timeline_files(
    flows: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace, svg = tmp_path / "t.json", tmp_path / "t.svg"
    args = ["run", f"{flows}:Bad", "--trace", str(trace), "--timeline", str(svg)]
    assert main([*args, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"trace written to {trace}" in err
    events = json.loads(trace.read_text(encoding="utf-8"))["traceEvents"]
    attempts = {e["name"]: e["args"]["status"] for e in events if e["ph"] == "X" and e["tid"]}
    assert attempts == {"ok": "completed", "boom": "failed"}
    root = ET.fromstring(svg.read_text(encoding="utf-8"))
    assert root.tag.endswith("svg")


def test_max_concurrency_alone_keeps_the_dags_schedule(
    flows: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", f"{flows}:Hello", "--max-concurrency", "1", "--no-progress"]) == 0
    assert main(["run", f"{flows}:Hello", "--strategy", "sequential", "--no-progress"]) == 0


def test_ctrl_c_in_process_is_caught_before_any_node_runs(
    flows: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The node sends SIGINT to this very process: the CLI's handler must be in place.
    assert main(["run", f"{flows}:SelfInterrupt", "--json"]) == 130
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["status"] == "cancelled"
    assert doc["results"] == {"done": "kept"}
    assert "interrupted: cancelling the run" in captured.err


def test_replay_in_virtual_time_meets_the_critical_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    wf = WORKFLOWS / "montage-chameleon-2mass-01d-001.json"
    assert main(["replay", str(wf), "--virtual", "--no-progress"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"makespan ([\d.]+)s \(virtual\); critical path ([\d.]+)s", out)
    assert m is not None, out
    assert m.group(1) == m.group(2)
    assert "results:" not in out  # replayed nodes return None: nothing to show


def test_replay_of_a_bad_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "wf.json"
    bad.write_text("{}", encoding="utf-8")
    assert main(["replay", str(bad)]) == 2
    assert "not a WfFormat 1.5 instance" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "No such command 'frobnicate'" in capsys.readouterr().err
