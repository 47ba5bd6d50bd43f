"""Entry point of the ``trio-dag`` command (also ``python -m trio_dag``).

The commands live in :mod:`trio_dag._cli_app`; they need click and rich, the
``cli`` extra (``pip install 'trio-dag[cli]'``). Without them this says so
and exits with status 2 instead of a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``trio-dag`` command line with ``argv`` (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 completed, 1 the run failed, 2 bad usage, definition
        or input, 130 interrupted.
    """
    try:
        from ._cli_app import run_cli  # optional dependencies: imported only here
    except ModuleNotFoundError as exc:  # pragma: no cover - the test environment has them
        if exc.name not in ("click", "rich"):
            raise
        print(
            f"trio-dag: the command line needs {exc.name!r}; install it with "
            "pip install 'trio-dag[cli]'",
            file=sys.stderr,
        )
        return 2
    return run_cli(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
