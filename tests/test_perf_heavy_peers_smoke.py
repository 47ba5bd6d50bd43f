"""perf/bench_heavy_peers.py: its plumbing, on the cheap contenders only.

Prefect and Ray (the ``peers`` dependency group) start a server or a cluster,
seconds to minutes on a shared machine, so no test here starts them: the tests
check which contenders run where, what is said about the ones that do not, and
the calibrated round-robin measurement and its JSON on raw trio and trio_dag.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

PERF = Path(__file__).resolve().parent.parent / "perf"
sys.path.insert(0, str(PERF))

import bench_heavy_peers  # noqa: E402
import bench_peers  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402

CHEAP = ("raw", "td_eager", "td_sequential", "asyncio")


def test_heavy_peers_are_prefect_and_ray_and_stay_out_of_bench_peers() -> None:
    assert bench_heavy_peers.heavy() == ["prefect", "ray"]
    for n in (150, 200, 1_000):
        assert not set(bench_peers.kinds_at(n)) & {"prefect", "ray"}
    reasons = bench_peers.skipped_at(200)
    assert "bench_heavy_peers.py" in reasons["prefect"]
    assert "bench_heavy_peers.py" in reasons["ray"]


def test_missing_heavy_peers_are_not_run_and_say_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peers.Peer, "available", lambda self: self.name not in {"prefect", "ray"})
    assert not set(bench_heavy_peers.kinds_at(200)) & {"prefect", "ray"}
    reasons = bench_heavy_peers.skipped_at(200)
    assert reasons["prefect"] == (
        "prefect is not installed (the `peers` dependency group: pip install --group peers)"
    )
    assert reasons["ray"].startswith("ray is not installed")


def test_heavy_peers_run_only_up_to_their_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peers.Peer, "available", lambda self: True)
    assert {"prefect", "ray"} <= set(bench_heavy_peers.kinds_at(200))
    at_1000 = bench_heavy_peers.kinds_at(1_000)
    assert "ray" in at_1000
    assert "prefect" not in at_1000
    assert "run up to 200 nodes only" in bench_heavy_peers.skipped_at(1_000)["prefect"]
    assert bench_heavy_peers.kinds_at(1_000, only=["ray", "td_eager"]) == ["td_eager", "ray"]

    sizes = (200, 1_000)  # each heavy peer at one size: the largest it fits
    assert "prefect" in bench_heavy_peers.kinds_at(200, sizes=sizes)
    assert "ray" not in bench_heavy_peers.kinds_at(200, sizes=sizes)
    assert "ray" in bench_heavy_peers.kinds_at(1_000, sizes=sizes)
    why = bench_heavy_peers.skipped_at(200, sizes)["ray"]
    assert why == "measured at 1,000 nodes (a heavy peer runs at its largest size only)"


def test_a_peer_without_a_service_starts_with_its_import_only() -> None:
    assert set(peers.PEERS["asyncio"].start()) == {"import"}
    peers.PEERS["asyncio"].stop()  # nothing to stop: no error
    assert bench_heavy_peers.start_heavy(CHEAP) == {}


def test_repeated_runner_reports_seconds_of_loops_runs() -> None:
    calls: list[int] = []

    def runner(loops: int) -> tuple[float, list[int]]:
        calls.append(loops)
        return 0.5 * loops, [1]

    assert bench_heavy_peers.repeated(runner, 4)(2) == (1.0, [1])  # 8 runs of 0.5 s, / 4
    assert calls == [8]


def test_calibration_checks_values_and_repeats_fast_runs() -> None:
    def fast(loops: int) -> tuple[float, list[int]]:
        return 0.001 * loops, [1, 1]

    def slow(loops: int) -> tuple[float, list[int]]:
        return 0.2 * loops, [1, 1]

    runners, inner = bench_heavy_peers.calibrated({"fast": fast, "slow": slow}, 2, 0.05)
    assert inner == {"fast": 50, "slow": 1}  # (a fast one is timed twice)
    dt, values = runners["fast"](1)
    assert dt == pytest.approx(0.001)
    assert values == [1, 1]
    with pytest.raises(AssertionError, match="wrong: wrong values at n=2"):
        bench_heavy_peers.calibrated({"wrong": lambda loops: (0.1, [1, 2])}, 2, 0.05)


def test_measure_writes_per_node_figures_and_ratios(tmp_path: Path) -> None:
    out = tmp_path / "anchors.json"
    data = bench_heavy_peers.measure((150,), 2, 0.001, only=CHEAP, output=str(out))
    assert json.loads(out.read_text()) == data
    s = data["sizes"]["150"]
    assert set(s["median_us"]) == set(CHEAP)
    assert s["median_ratio_to_td_eager"]["td_eager"] == 1.0
    assert s["rounds"] == 2
    assert all(v >= 1 for v in s["runs_per_measurement"].values())
    assert data["bench"] == "peer_anchors"
    assert data["startup_s"] == {}
    assert len(data["load_before"]) == 3
    assert data["command"] == "python perf/bench_heavy_peers.py"


def test_main_measures_and_records_its_command(tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    argv = ["--sizes", "150", "--rounds", "1", "--min-ms", "1", "--only", "raw,td_eager"]
    bench_heavy_peers.main([*argv, "-o", str(out)])
    data = json.loads(out.read_text())
    assert data["command"] == "python perf/bench_heavy_peers.py " + " ".join(argv) + f" -o {out}"
    assert set(data["sizes"]["150"]["median_us"]) == {"raw", "td_eager"}
    with pytest.raises(SystemExit):
        bench_heavy_peers.main(["--rounds", "0", "-o", str(out)])


def test_smoke_runs_the_cheap_contenders() -> None:
    ran, skipped = bench_heavy_peers.smoke(150, only=CHEAP)
    assert ran == ["raw", "td_sequential", "td_eager", "asyncio"]
    assert all(why for why in skipped.values())


def test_report_renders_the_anchors_table() -> None:
    data = {
        "bench": "peer_anchors",
        "base": "td_eager",
        "command": "python perf/bench_heavy_peers.py",
        "load_before": [1.0, 1.5, 2.0],
        "load_after": [1.2, 1.5, 2.0],
        "startup_s": {"ray": {"import": 1.0, "init": 5.0, "first_task": 1.5}},
        "sizes": {
            "200": {
                "median_us": {"td_eager": 8.0, "asyncio": 8.0, "ray": 1600.0},
                "min_us": {"td_eager": 7.0, "asyncio": 7.5, "ray": 1200.0},
                "skipped": {"prefect": "prefect is not installed"},
            },
            "1000": {"median_us": {"td_eager": 7.5, "ray": 1500.0}, "skipped": {}},
        },
        "versions": {"ray": "2.60.0"},
    }
    lines: list[str] = []
    report.anchors_section(data, lines)
    text = "\n".join(lines)
    assert "| `ray` | Ray, one remote task per node" in text
    assert "| 1,600 (1,200), 200x | 1,500 (-), 200x | import 1.0 s, init 5.0 s, first task" in text
    assert "| `asyncio` |" in text
    assert "8 (7.5), 1.00x | - | - |" in text
    assert "- 200 nodes, `prefect` not run: prefect is not installed" in text
    assert "Load average" in text
    assert "1.0/1.5/2.0 before, 1.2/1.5/2.0 after" in text


def test_stopping_a_peer_never_imports_it() -> None:
    assert "peers.prefect_peer" not in sys.modules  # no test starts Prefect
    peers.PEERS["prefect"].stop()
    assert "peers.prefect_peer" not in sys.modules


def test_a_heavy_peer_runs_only_while_a_size_needs_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    events: list[str] = []
    fake = types.ModuleType("peers.fake_heavy")

    def start() -> dict[str, float]:
        events.append("start")
        return {"service": 0.5}

    def prepare(parents: peers.Parents) -> peers.Runner:
        events.append(f"prepare {len(parents)}")
        return peers.sync_runner(lambda: [1] * len(parents))

    fake.start = start  # type: ignore[attr-defined]
    fake.stop = lambda: events.append("stop")  # type: ignore[attr-defined]
    fake.prepare = prepare  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "peers.fake_heavy", fake)
    monkeypatch.setitem(
        peers.PEERS, "fake", peers.Peer("fake", "fake_heavy", "prepare", None, 150, "", heavy=True)
    )
    data = bench_heavy_peers.measure(
        (150, 160), 1, 0.001, only=("td_eager", "fake"), output=str(tmp_path / "f.json")
    )
    assert events == ["start", "prepare 150", "stop", "stop"]  # stopped before 160, and at the end
    assert data["startup_s"] == {"fake": {"import": pytest.approx(0, abs=1), "service": 0.5}}
    assert set(data["sizes"]["150"]["median_us"]) == {"td_eager", "fake"}
    assert set(data["sizes"]["160"]["median_us"]) == {"td_eager"}
    assert "run up to 150 nodes only" in data["sizes"]["160"]["skipped"]["fake"]


def test_smoke_says_which_heavy_peers_were_not_measured(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(peers.Peer, "available", lambda self: self.name not in {"prefect", "ray"})
    bench_heavy_peers.main(["--smoke", "--only", "td_eager,asyncio"])
    out = capsys.readouterr().out
    assert "bench_heavy_peers smoke OK: td_eager, asyncio" in out
    assert "  prefect not measured: prefect is not installed (the `peers` dependency group" in out
    assert "  ray not measured: ray is not installed" in out
