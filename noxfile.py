"""Development sessions: ``nox -s tests lint typecheck docs bench``."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint", "typecheck"]
PYPROJECT = nox.project.load_toml("pyproject.toml")


def install_group(session: nox.Session, group: str) -> None:
    session.install(*nox.project.dependency_groups(PYPROJECT, group))


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """Unit, property and doctests, with branch coverage >= 90%."""
    session.install("-e", ".")
    install_group(session, "test")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff")
    session.run("ruff", "check", "src", "tests", "perf", "examples")
    session.run("ruff", "format", "--check", "src", "tests", "perf", "examples")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/."""
    session.install("-e", ".")
    install_group(session, "lint")
    session.run("mypy")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the Sphinx docs with warnings as errors, then run their doctests."""
    session.install("-e", ".")
    install_group(session, "docs")
    session.run("sphinx-build", "-n", "-W", "-b", "html", "docs", "docs/_build/html")
    session.run("sphinx-build", "-n", "-W", "-b", "doctest", "docs", "docs/_build/doctest")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """The pyperf suite; ``nox -s bench -- --fast`` for a quick pass."""
    session.install("-e", ".")
    install_group(session, "bench")
    session.run("python", "perf/run_all.py", *session.posargs)
