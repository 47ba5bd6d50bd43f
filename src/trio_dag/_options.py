"""Run options: one frozen, validated record built once per call (internal).

``DAG.run``, ``resume``, ``stream`` and ``run_sync`` keep their explicit,
typed public signatures; each builds a :class:`RunOptions` once and hands
only that to the runtime, so an option is checked in one place and a new
option is added in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

import trio

from ._exceptions import option_error
from ._instrument import Instrument
from ._placement import Placement, bind_limiters, bind_placements, check_shared_limiters
from ._retry import RetryPolicy
from ._store import SQLiteStore
from ._strategies import Parallel, Sequential, Strategy
from ._supervise import Supervisor
from ._validate import check_choice, check_number, reject

if TYPE_CHECKING:
    from ._graph import Graph

__all__ = ["RunOptions"]

_EAGER = Parallel()
_LEVELS = Parallel(schedule="levels")


@final
@dataclass(frozen=True, slots=True)
class RunOptions:
    """The validated options of one call that runs a DAG.

    Attributes:
        strategy: the strategy, resolved (never ``None``).
        supervisor: the supervisor, resolved from the DAG's default.
        fail_fast: ``on_failure == "fail_fast"``.
        retry: the retry policy of nodes that have none of their own, or ``None``.
        deadline: seconds the run (each item's run, for a stream) may take, or ``None``.
        seed: the seed of retry jitter, or ``None``.
        instruments: the instruments, materialised once.
        store: the store of a durable or caching run, or ``None``.
        run_key: the durable run's key, or ``None`` (then a store only caches).
        rerun_changed: ``on_change == "rerun"``.
        placements: per node, its placement (names resolved with the call's
            ``placements=``) or ``None``; ``None`` when no node is placed or
            limited.
        limiters: per node, the capacity limiter its attempts hold (resolved
            from the call's ``limiters=``) or ``None``; ``None`` when no node
            names a limit.
    """

    strategy: Strategy
    supervisor: Supervisor
    fail_fast: bool
    retry: RetryPolicy | None
    deadline: float | None
    seed: int | None
    instruments: tuple[Instrument, ...]
    store: SQLiteStore | None = None
    run_key: str | None = None
    rerun_changed: bool = False
    placements: tuple[Placement | None, ...] | None = None
    limiters: tuple[trio.CapacityLimiter | None, ...] | None = None

    @property
    def max_concurrency(self) -> int | None:
        """The strategy's bound on running node attempts, or ``None``."""
        s = self.strategy
        return s.max_concurrency if isinstance(s, Parallel) else None

    @classmethod
    def build(
        cls,
        where: str,
        default_supervisor: Supervisor,
        *,
        strategy: Strategy | None = None,
        supervisor: Supervisor | None = None,
        on_failure: str = "fail_fast",
        retry: RetryPolicy | int | None = None,
        deadline: float | None = None,
        seed: int | None = None,
        instruments: Iterable[Instrument] = (),
        store: SQLiteStore | None = None,
        run_key: str | None = None,
        on_change: str = "error",
        graph: Graph | None = None,
        placements: Mapping[str, Placement] | None = None,
        limiters: Mapping[str, trio.CapacityLimiter | int] | None = None,
    ) -> RunOptions:
        """Check every option and resolve the defaults.

        Args:
            where: what error messages say the options were given to, e.g.
                ``"DAG 'Report': run"``.
            default_supervisor: the DAG's own supervisor.
            graph: the graph to run: its placement and limiter names are
                resolved here, once per call (``None``: nothing to resolve).

        Raises:
            InvalidOptionError: an option has a bad value (named in the message).
            InputError: a node's ``run_in`` or ``limiter`` name is not bound
                by ``placements`` or ``limiters``.
        """
        sup = default_supervisor if supervisor is None else supervisor
        if not isinstance(sup, Supervisor):
            reject(where, "supervisor", sup, "a trio_dag.Supervisor", wrong_type=True)
        check_choice(where, "on_failure", on_failure, ("fail_fast", "continue"))
        if deadline is not None:
            deadline = check_number(where, "deadline", deadline, positive=True, allow_zero=False)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            reject(where, "seed", seed, "an int or None", wrong_type=True)
        if strategy is None:
            strategy = _LEVELS if sup.needs_levels else _EAGER
        elif not isinstance(strategy, Sequential | Parallel):
            reject(
                where,
                "strategy",
                strategy,
                "trio_dag.Sequential() or trio_dag.Parallel(...)",
                wrong_type=True,
            )
        elif isinstance(strategy, Parallel) and strategy.schedule == "eager" and sup.needs_levels:
            raise option_error(
                f"{where}: supervisor strategy {sup.strategy!r} restarts levels, so it needs "
                f"level scheduling; use Parallel(schedule='levels') (the default for such a "
                f"supervisor) or Sequential(), not schedule='eager'",
                option="strategy",
                value=strategy,
            )
        policy = RetryPolicy.coerce(retry, where)
        if store is not None and not isinstance(store, SQLiteStore):
            reject(where, "store", store, "a trio_dag.SQLiteStore or None", wrong_type=True)
        if run_key is not None:
            if not isinstance(run_key, str) or not run_key:
                reject(
                    where,
                    "run_key",
                    run_key,
                    "a non-empty str",
                    wrong_type=not isinstance(run_key, str),
                )
            if store is None:
                raise option_error(
                    f"{where}: run_key={run_key!r} needs a store to journal the run in; "
                    f"pass store=trio_dag.SQLiteStore(path)",
                    option="run_key",
                    value=run_key,
                )
        check_choice(where, "on_change", on_change, ("error", "rerun"))
        per_node = None if graph is None else graph._placements
        placed: tuple[Placement | None, ...] | None = None
        limited: tuple[trio.CapacityLimiter | None, ...] | None = None
        if per_node is not None or placements is not None or limiters is not None:
            names = graph._placement_names if graph is not None else ()
            bound = bind_placements(where, names, placements)
            lim_names = graph._limiter_names if graph is not None else ()
            lims = bind_limiters(where, lim_names, limiters)
            if per_node is not None and graph is not None:
                placed = tuple(bound[p] if isinstance(p, str) else p for p in per_node)
                if lim_names:
                    limited = tuple(None if n is None else lims[n] for n in graph._limiters or ())
                    check_shared_limiters(where, graph.nodes, placed, limited)
        return cls(
            strategy,
            sup,
            on_failure == "fail_fast",
            policy,
            deadline,
            seed,
            _instruments(where, instruments),
            store,
            run_key,
            on_change == "rerun",
            placed,
            limited,
        )


def _instruments(where: str, instruments: Any) -> tuple[Instrument, ...]:
    if isinstance(instruments, Instrument):
        reject(where, "instruments", instruments, "an iterable of Instruments", wrong_type=True)
    try:
        items = tuple(instruments)
    except TypeError:
        reject(where, "instruments", instruments, "an iterable of Instruments", wrong_type=True)
    for ins in items:
        if not isinstance(ins, Instrument):
            reject(where, "instruments", ins, "trio_dag.Instrument objects", wrong_type=True)
    return items
