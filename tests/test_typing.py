"""Typed results, checked by the type checkers themselves.

mypy (``--strict``) and pyright (strict) run as subprocesses on
``tests/typing/typed_dag.py``: every ``reveal_type`` there must reveal the
type written at the end of its line, every line marked ``# error`` must be
reported, and nothing else. No plugin is involved: what the checkers see is
trio_dag's own annotations (``NodeFunction[P, R]``, ``RunResult.__getitem__``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "tests" / "typing" / "typed_dag.py"
POSITIONAL = ROOT / "tests" / "typing" / "typed_positional.py"
SRC = ROOT / "src"

REVEAL = re.compile(
    r"reveal_type\(.*\)\s*# mypy: (?P<mypy>.+?) \| pyright: (?P<pyright>.+?)(  # fmt: skip)?$"
)


def _expected(path: Path) -> tuple[dict[int, dict[str, str]], set[int]]:
    reveals: dict[int, dict[str, str]] = {}
    errors: set[int] = set()
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = REVEAL.search(line)
        if m:
            reveals[no] = {"mypy": m["mypy"].strip(), "pyright": m["pyright"].strip()}
        elif line.rstrip().endswith("# error"):
            errors.add(no)
    return reveals, errors


def _mypy(paths: list[Path], tmp: Path) -> str:
    env = {**os.environ, "MYPYPATH": str(SRC)}  # this checkout's trio_dag, not an installed one
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--python-version=3.11",
            "--no-error-summary",
            "--hide-error-context",
            "--show-column-numbers",
            f"--cache-dir={tmp / 'mypy-cache'}",
            f"--config-file={tmp / 'mypy.ini'}",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        timeout=600,
        check=False,
    )
    assert out.returncode in (0, 1), out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def mypy_output(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, str]:
    tmp = tmp_path_factory.mktemp("mypy")
    (tmp / "mypy.ini").write_text("[mypy]\n", encoding="utf-8")
    output = _mypy([EXAMPLE, POSITIONAL], tmp)  # one run: the imports are checked once
    return {
        p: "\n".join(line for line in output.splitlines() if p.name in line)
        for p in (EXAMPLE, POSITIONAL)
    }


@pytest.fixture(scope="module")
def pyright_output(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    tmp = tmp_path_factory.mktemp("pyright")
    config = tmp / "pyrightconfig.json"
    config.write_text(
        json.dumps(
            {"extraPaths": [str(SRC)], "pythonVersion": "3.11", "typeCheckingMode": "strict"}
        ),
        encoding="utf-8",
    )
    out = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson", "-p", str(config), str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode in (0, 1), out.stdout + out.stderr
    diagnostics: list[dict[str, object]] = json.loads(out.stdout)["generalDiagnostics"]
    return diagnostics


def _mypy_lines(output: str, path: Path) -> tuple[dict[int, str], dict[int, list[str]]]:
    reveals: dict[int, str] = {}
    errors: dict[int, list[str]] = {}
    pattern = re.compile(rf"^{re.escape(path.name)}:(\d+):\d+: (note|error): (.*)$")
    for line in output.splitlines():
        m = pattern.match(Path(line).name if line.startswith("/") else line.split("/")[-1])
        if not m:
            continue
        no, kind, text = int(m[1]), m[2], m[3]
        r = re.fullmatch(r'Revealed type is "(.*)"', text)
        if kind == "note" and r:
            reveals[no] = r[1]
        elif kind == "error":
            errors.setdefault(no, []).append(text)
    return reveals, errors


def test_mypy_reveals_the_declared_types(mypy_output: dict[Path, str]) -> None:
    want, _ = _expected(EXAMPLE)
    got, _ = _mypy_lines(mypy_output[EXAMPLE], EXAMPLE)
    assert want, "the example has reveal_type lines"
    assert got == {no: w["mypy"] for no, w in want.items()}, mypy_output[EXAMPLE]


def test_mypy_reports_exactly_the_deliberate_errors(mypy_output: dict[Path, str]) -> None:
    _, want = _expected(EXAMPLE)
    _, got = _mypy_lines(mypy_output[EXAMPLE], EXAMPLE)
    assert len(want) >= 4
    assert set(got) == want, mypy_output[EXAMPLE]
    text = mypy_output[EXAMPLE]
    assert 'variable has type "int"' in text  # result[Report.summary] is a str
    assert 'Missing named argument "orders"' in text  # a direct call is checked


def test_mypy_types_positional_class_body_nodes(mypy_output: dict[Path, str]) -> None:
    want, errors = _expected(POSITIONAL)
    got, got_errors = _mypy_lines(mypy_output[POSITIONAL], POSITIONAL)
    assert got == {no: w["mypy"] for no, w in want.items()}, mypy_output[POSITIONAL]
    assert set(got_errors) == errors, mypy_output[POSITIONAL]


def test_pyright_reveals_the_declared_types(pyright_output: list[dict[str, object]]) -> None:
    want, _ = _expected(EXAMPLE)
    got: dict[int, str] = {}
    for d in pyright_output:
        if d["severity"] == "information":
            m = re.fullmatch(r'Type of ".*" is "(.*)"', str(d["message"]), re.S)
            assert m, d
            got[_line(d)] = m[1]
    assert got == {no: w["pyright"] for no, w in want.items()}, pyright_output


def test_pyright_reports_exactly_the_deliberate_errors(
    pyright_output: list[dict[str, object]],
) -> None:
    _, want = _expected(EXAMPLE)
    got = {_line(d) for d in pyright_output if d["severity"] == "error"}
    assert got == want, pyright_output


def _line(diagnostic: dict[str, object]) -> int:
    rng = diagnostic["range"]
    assert isinstance(rng, dict)
    return int(rng["start"]["line"]) + 1


# ----------------------------------------------------------------- linters

LINT_EXAMPLE = ROOT / "examples" / "lint_example.py"
NAMING = 'lint.pep8-naming.staticmethod-decorators = ["trio_dag.node"]'


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated"),
            *("--select", "N", *args, str(LINT_EXAMPLE)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_pep8_naming_flags_class_body_nodes_by_default() -> None:
    out = _ruff()
    assert out.returncode == 1
    flagged = re.findall(r"N805", out.stdout)
    assert len(flagged) == 4, out.stdout  # every positional node; not the keyword-only one


def test_pep8_naming_passes_them_with_the_documented_setting() -> None:
    out = _ruff("--config", NAMING)
    assert out.returncode == 0, out.stdout
    with_classmethod = _ruff("--config", NAMING.replace("staticmethod", "classmethod"))
    assert "N804" in with_classmethod.stdout  # the tempting other setting trades N805 for N804


def test_pyproject_carries_the_setting_ci_lints_with() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'staticmethod-decorators = ["trio_dag.node"]' in pyproject
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "ruff check --select N examples/lint_example.py" in ci
