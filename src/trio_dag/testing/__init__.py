"""Tools for testing your own DAGs: fault injection, node replacement, virtual time.

Not imported by ``import trio_dag``; import it by name (as ``trio.testing``)::

    from trio_dag import testing as tdt

Every function here takes a DAG class and returns a *new* DAG class built
from the original's compiled graph, with some node bodies swapped: the
original class is untouched, so one test's fault never leaks into another.
The new class is a subclass of the original, has the same name, inputs,
dependencies, node options (retry policies, timeouts, maps) and supervisor,
and runs with every strategy and option the original does.

- :func:`replace`: give nodes another implementation (a fake, a stub).
- :func:`fail`: make a node raise, on its first *N* attempts or on every one.
- :func:`hang`: make a node block until it is cancelled (a timeout, the
  run's deadline, ``fail_fast``), on its first *N* attempts or every one.
- :func:`run_virtual`: run a DAG under :func:`trio.run` with a
  :class:`trio.testing.MockClock` that skips ahead whenever every task
  waits: sleeps, backoffs and timeouts take no real time.

See :doc:`/testing` for a guide.
"""

from __future__ import annotations

from ._inject import InjectedFault as InjectedFault
from ._inject import fail as fail
from ._inject import hang as hang
from ._inject import replace as replace
from ._virtual import run_virtual as run_virtual

__all__ = ["InjectedFault", "fail", "hang", "replace", "run_virtual"]


def _fix_module_names() -> None:
    """Report public names as ``trio_dag.testing.X`` (as ``trio_dag`` does)."""
    g = globals()
    for name in __all__:
        g[name].__module__ = __name__


_fix_module_names()
del _fix_module_names
