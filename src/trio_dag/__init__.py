"""trio_dag: an in-process DAG execution engine on trio, with OTP-style supervision.

The whole public API is re-exported here; everything else is private.
"""

from ._dsl import DAG as DAG
from ._dsl import Input as Input
from ._dsl import Node as Node
from ._dsl import NodeFunction as NodeFunction
from ._dsl import get as get
from ._dsl import input as input
from ._dsl import node as node
from ._exceptions import CycleError as CycleError
from ._exceptions import DAGDefinitionError as DAGDefinitionError
from ._exceptions import DAGError as DAGError
from ._exceptions import DuplicateNodeError as DuplicateNodeError
from ._exceptions import InputError as InputError
from ._exceptions import InvalidNodeError as InvalidNodeError
from ._exceptions import InvalidOptionError as InvalidOptionError
from ._exceptions import MapError as MapError
from ._exceptions import NodeCancelled as NodeCancelled
from ._exceptions import RunFailed as RunFailed
from ._exceptions import RunInterrupted as RunInterrupted
from ._exceptions import UnknownDependencyError as UnknownDependencyError
from ._graph import Graph as Graph
from ._handle import Progress as Progress
from ._handle import RunHandle as RunHandle
from ._instrument import Instrument as Instrument
from ._result import NodeStatus as NodeStatus
from ._result import RunResult as RunResult
from ._result import RunStatus as RunStatus
from ._retry import RetryPolicy as RetryPolicy
from ._run import Attempt as Attempt
from ._run import current_attempt as current_attempt
from ._run import current_run_id as current_run_id
from ._strategies import Parallel as Parallel
from ._strategies import Sequential as Sequential
from ._stream import StreamResults as StreamResults
from ._supervise import Supervisor as Supervisor

__version__ = "0.1.0"

__all__ = [
    "DAG",
    "Attempt",
    "CycleError",
    "DAGDefinitionError",
    "DAGError",
    "DuplicateNodeError",
    "Graph",
    "Input",
    "InputError",
    "Instrument",
    "InvalidNodeError",
    "InvalidOptionError",
    "MapError",
    "Node",
    "NodeCancelled",
    "NodeFunction",
    "NodeStatus",
    "Parallel",
    "Progress",
    "RetryPolicy",
    "RunFailed",
    "RunHandle",
    "RunInterrupted",
    "RunResult",
    "RunStatus",
    "Sequential",
    "StreamResults",
    "Supervisor",
    "UnknownDependencyError",
    "current_attempt",
    "current_run_id",
    "get",
    "input",
    "node",
]


def _fix_module_names() -> None:
    """Report public names as ``trio_dag.X`` in reprs, tracebacks and docs (as trio does)."""
    g = globals()
    for name in __all__:
        obj = g[name]
        if getattr(obj, "__module__", "").startswith("trio_dag._"):
            obj.__module__ = __name__


_fix_module_names()
del _fix_module_names
