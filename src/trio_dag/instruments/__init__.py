"""Built-in instruments: logging, traces, a timeline, live progress, OpenTelemetry.

Not imported by ``import trio_dag``; import it by name::

    from trio_dag.instruments import ChromeTrace, LogInstrument, Timeline

Each instrument is a :class:`trio_dag.Instrument`: pass it to a run with
``instruments=[...]``. One instrument object may watch several runs, also
at once (the items of a stream): it keeps its state per run.

- :class:`LogInstrument`: one :mod:`logging` record per node attempt
  outcome, with structured fields.
- :class:`ChromeTrace`: a Chrome/Perfetto trace file of every attempt.
- :class:`Timeline`: an SVG Gantt chart of every attempt.
- :class:`ProgressDisplay`: a live terminal display; needs ``rich``
  (``pip install 'trio-dag[cli]'``).
- :class:`OpenTelemetryInstrument`: spans per attempt under a span per run;
  needs ``opentelemetry-api`` (``pip install 'trio-dag[otel]'``).

The last two are loaded on first use, so this package imports without
their optional dependencies.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from ._log import LogInstrument as LogInstrument
from ._recorder import AttemptRecord as AttemptRecord
from ._recorder import AttemptStatus as AttemptStatus
from ._recorder import Recording as Recording
from ._timeline import Timeline as Timeline
from ._trace import ChromeTrace as ChromeTrace

if _typing.TYPE_CHECKING:
    from ._otel import OpenTelemetryInstrument as OpenTelemetryInstrument
    from ._progress import ProgressDisplay as ProgressDisplay

__all__ = [
    "AttemptRecord",
    "AttemptStatus",
    "ChromeTrace",
    "LogInstrument",
    "OpenTelemetryInstrument",
    "ProgressDisplay",
    "Recording",
    "Timeline",
]

# name -> (module, the package it needs, the optional extra that brings it)
_OPTIONAL = {
    "ProgressDisplay": ("._progress", "rich", "cli"),
    "OpenTelemetryInstrument": ("._otel", "opentelemetry-api", "otel"),
}


def __getattr__(name: str) -> _typing.Any:
    """Load the instruments with optional dependencies when first asked for."""
    if name not in _OPTIONAL:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, package, extra = _OPTIONAL[name]
    try:
        mod = _importlib.import_module(module, __name__)
    except ImportError as exc:
        raise ImportError(
            f"trio_dag.instruments.{name} needs the {package!r} package (importing "
            f"{exc.name!r} failed); install it with: pip install 'trio-dag[{extra}]'"
        ) from exc
    obj = getattr(mod, name)
    obj.__module__ = __name__
    globals()[name] = obj
    return obj


def _fix_module_names() -> None:
    """Report public names as ``trio_dag.instruments.X`` (as ``trio_dag`` does)."""
    g = globals()
    for name in __all__:
        obj = g.get(name)
        if obj is not None and obj.__module__.startswith(__name__ + "._"):
            obj.__module__ = __name__


_fix_module_names()
del _fix_module_names
