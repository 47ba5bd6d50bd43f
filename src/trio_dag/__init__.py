"""trio_dag: an in-process DAG execution engine on trio, with OTP-style supervision.

The whole public API is re-exported here; everything else is private.
"""

from ._context import Attempt as Attempt
from ._context import current_attempt as current_attempt
from ._context import current_run_id as current_run_id
from ._dag import DAG as DAG
from ._declare import Input as Input
from ._declare import MapNodeFunction as MapNodeFunction
from ._declare import Node as Node
from ._declare import NodeFunction as NodeFunction
from ._declare import get as get
from ._declare import include as include
from ._declare import input as input
from ._declare import node as node
from ._declare import resource as resource
from ._exceptions import CycleError as CycleError
from ._exceptions import DAGDefinitionError as DAGDefinitionError
from ._exceptions import DAGError as DAGError
from ._exceptions import DuplicateNodeError as DuplicateNodeError
from ._exceptions import InputError as InputError
from ._exceptions import InvalidNodeError as InvalidNodeError
from ._exceptions import InvalidOptionError as InvalidOptionError
from ._exceptions import MapError as MapError
from ._exceptions import NodeCancelled as NodeCancelled
from ._exceptions import ResourceError as ResourceError
from ._exceptions import SerializationError as SerializationError
from ._exceptions import StoreError as StoreError
from ._exceptions import StoreWarning as StoreWarning
from ._exceptions import TypeMismatchError as TypeMismatchError
from ._exceptions import UnknownDependencyError as UnknownDependencyError
from ._graph import Graph as Graph
from ._handle import Progress as Progress
from ._handle import RunHandle as RunHandle
from ._instrument import Instrument as Instrument
from ._place_executor import InExecutor as InExecutor
from ._place_future import wait_future as wait_future
from ._place_process import InProcess as InProcess
from ._place_thread import InThread as InThread
from ._placement import Placement as Placement
from ._result import ElementError as ElementError
from ._result import NodeStatus as NodeStatus
from ._result import RunFailed as RunFailed
from ._result import RunInterrupted as RunInterrupted
from ._result import RunResult as RunResult
from ._result import RunStatus as RunStatus
from ._retry import RetryPolicy as RetryPolicy
from ._serialize import Serializer as Serializer
from ._store import SQLiteStore as SQLiteStore
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
    "ElementError",
    "Graph",
    "InExecutor",
    "InProcess",
    "InThread",
    "Input",
    "InputError",
    "Instrument",
    "InvalidNodeError",
    "InvalidOptionError",
    "MapError",
    "MapNodeFunction",
    "Node",
    "NodeCancelled",
    "NodeFunction",
    "NodeStatus",
    "Parallel",
    "Placement",
    "Progress",
    "ResourceError",
    "RetryPolicy",
    "RunFailed",
    "RunHandle",
    "RunInterrupted",
    "RunResult",
    "RunStatus",
    "SQLiteStore",
    "Sequential",
    "SerializationError",
    "Serializer",
    "StoreError",
    "StoreWarning",
    "StreamResults",
    "Supervisor",
    "TypeMismatchError",
    "UnknownDependencyError",
    "current_attempt",
    "current_run_id",
    "get",
    "include",
    "input",
    "node",
    "resource",
    "wait_future",
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
