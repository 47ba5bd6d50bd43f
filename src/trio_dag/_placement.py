"""Placement: where a node body runs, outside the event loop's thread.

A placement turns one call of a plain (sync) function into something a trio
task can await without blocking the loop:

* :class:`~trio_dag.InThread` (``_place_thread``): ``trio.to_thread.run_sync``.
* :class:`~trio_dag.InProcess` (``_place_process``): ``trio_parallel.run_sync``
  worker processes (extra ``trio-dag[process]``); cancellation kills the worker.
* :class:`~trio_dag.InExecutor` (``_place_executor``): any
  :class:`concurrent.futures.Executor`, awaited with a done-callback that
  wakes the parked task through the trio token (``_place_future``): no
  thread per call; a Dask client's executor goes through ``_place_dask``.

This module holds what they share: the :class:`Placement` base and its call
protocol, the chunk of map elements, and the checks and run-start bindings
of ``run_in=``, ``placements=`` and ``limiters=``.

The runtime calls one method per attempt: ``await placement.call(fn, args,
node=name, on_overrun=cb)``, or, for a chunk of map elements,
``await placement.call_chunk(fn, args, map_index, elements, first=k, node=name)``.
Both build a :class:`PlacedCall` and hand it to the subclass's ``_run``.

Process and cluster calls are pickled once, in the trio thread, into one
``bytes`` payload (``_place_pickle.pickle_call``); thread placements never pickle.

``on_overrun``, when given, is how the runtime learns that an attempt's
cancellation (its timeout, fail_fast, the run's deadline) could not
interrupt the body: it is called once, in the trio thread, with
``"abandon"`` when the call gives up on a body that goes on running (the
call returns at once), or ``"wait"`` when the call waited for a body that
ignored the cancellation (its result or error is then discarded and the
call raises ``Cancelled``, so a ``fail_after`` around it raises
``TooSlowError``). Kills and cancelled pending futures are interruptions and
are not reported.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import trio

from ._exceptions import InputError, option_error
from ._place_pickle import RemoteSerializationError, pickle_call, remote_error, unpickle_result
from ._validate import check_int, reject

__all__ = [
    "OverrunCallback",
    "PlacedCall",
    "Placement",
    "bind_limiters",
    "bind_placements",
    "check_limiter",
    "check_run_in",
    "check_shared_limiters",
    "chunk",
    "run_remote",
]

OverrunCallback = Callable[[str], None]
"""``on_overrun(action)``, ``action`` being ``"abandon"`` or ``"wait"``."""


class Placement:
    """Where a node's body runs: the base of :class:`InThread`,
    :class:`InProcess` and :class:`InExecutor`.

    The two methods are the interface the runtime calls once per attempt;
    they may also be called directly, from trio code:

    >>> import trio, trio_dag as td
    >>> where = td.InThread()
    >>> isinstance(where, td.Placement)
    True
    >>> trio.run(where.call, sum, [[1, 2, 3]])          # sum([1, 2, 3]) in a thread
    6
    >>> trio.run(where.call_chunk, divmod, [None, 10], 0, [17, 23])   # divmod(e, 10) per e
    [(1, 7), (2, 3)]

    Attributes:
        serializes: Whether calls cross a process boundary (arguments and results are
            pickled).
    """

    __slots__ = ()

    serializes: bool = False

    async def call(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any],
        *,
        node: str | None = None,
        on_overrun: OverrunCallback | None = None,
    ) -> Any:
        """Run ``fn(*args)`` here and return its value or raise its exception.

        Args:
            fn: a synchronous callable.
            args: its positional arguments.
            node: the node's name, for error messages (and Dask task keys).
            on_overrun: called if a cancellation could not interrupt the body
                (see the module's description).

        Raises:
            SerializationError: a process or cluster call could not be pickled.
        """
        return await self._run(PlacedCall(fn, args, node), on_overrun)

    async def call_chunk(
        self,
        fn: Callable[..., Any],
        fixed_args: Sequence[Any],
        map_index: int,
        elements: Sequence[Any],
        *,
        first: int = 0,
        node: str | None = None,
        on_overrun: OverrunCallback | None = None,
    ) -> list[Any]:
        """Run ``fn`` once per element of ``elements`` in ONE call; results in order.

        Each element takes the place of ``fixed_args[map_index]``. The chunk
        stops at the first element that raises; its exception is raised
        unchanged, with a note naming the element's index (``first`` plus
        its position in the chunk) and ``node``.

        Args:
            fn: a synchronous callable.
            fixed_args: its positional arguments; the one at ``map_index`` is
                replaced by each element.
            map_index: the position of the mapped argument.
            elements: this chunk's elements.
            first: the index of ``elements[0]`` in the whole map.
            node: the node's name, for messages and notes.
            on_overrun: as for :meth:`call`.
        """
        call = PlacedCall(fn, fixed_args, node, map_index, elements, first)
        result: list[Any] = await self._run(call, on_overrun)
        return result

    async def _run(self, call: PlacedCall, on_overrun: OverrunCallback | None) -> Any:
        """Run ``call.target(*call.args)`` where this placement says (subclasses)."""
        raise NotImplementedError


class PlacedCall:
    """One placed call: ``fn(*args)``, or a chunk of map elements (internal).

    ``target(*args)`` is what runs where the call is placed: ``fn`` itself,
    or :func:`chunk` over the elements.
    """

    __slots__ = ("args", "elements", "first", "fn", "map_index", "node", "target", "user_args")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any],
        node: str | None,
        map_index: int | None = None,
        elements: Sequence[Any] | None = None,
        first: int = 0,
    ) -> None:
        # plain attribute stores: alike in shape to other records' __init__, nothing to share
        self.fn = fn
        self.user_args = args
        self.node = node
        self.map_index = map_index
        self.elements = elements
        self.first = first
        self.target: Callable[..., Any]
        self.args: tuple[Any, ...]
        if elements is None:
            self.target, self.args = fn, tuple(args)
        else:
            self.target = chunk
            self.args = (fn, tuple(args), map_index, list(elements), first, node)

    def payload(self, dumps: Callable[[Any], bytes], placement: Placement) -> bytes:
        """The call pickled for ``_place_pickle.run_pickled`` (errors name the culprit)."""
        first = None if self.elements is None else self.first
        return pickle_call(
            dumps,
            placement,
            self.node,
            (self.target, self.args, first),
            self.fn,
            self.user_args,
            self.map_index,
            self.elements or (),
        )


async def run_remote(
    placement: Placement,
    call: PlacedCall,
    dumps: Callable[[Any], bytes],
    send: Callable[[bytes], Awaitable[bytes]],
) -> Any:
    """Pickle ``call``, ``send`` it to run as ``run_pickled(payload)``, unpickle its result.

    What the worker could not unpickle or pickle back, and a result that does
    not unpickle here, raise a :class:`~trio_dag.SerializationError` naming
    the node (``send`` raises the call's own exceptions unchanged).
    """
    payload = call.payload(dumps, placement)
    try:
        raw = await send(payload)
    except RemoteSerializationError as exc:
        raise remote_error(exc, placement, call.node) from exc
    return unpickle_result(raw, placement, call.node)


def chunk(
    fn: Callable[..., Any],
    fixed_args: Sequence[Any],
    map_index: int,
    elements: Iterable[Any],
    first: int,
    node: str | None,
) -> list[Any]:
    """``fn`` on each element in place of ``fixed_args[map_index]`` (runs where placed)."""
    a = list(fixed_args)
    out: list[Any] = []
    k = first
    try:
        for x in elements:
            a[map_index] = x
            out.append(fn(*a))
            k += 1
    except Exception as exc:
        of = f" of node {node!r}" if node else ""
        exc.add_note(f"trio_dag: raised by map element {k}{of}")
        raise
    return out


# ----------------------------------------------- options and run bindings


def check_limiter(where: str, value: Any) -> trio.CapacityLimiter | None:
    """A placement's ``limiter=``: a limiter, a new one of ``value`` tokens, or ``None``."""
    if value is None or isinstance(value, trio.CapacityLimiter):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return trio.CapacityLimiter(check_int(where, "limiter", value, minimum=1))
    reject(
        where, "limiter", value, "a trio.CapacityLimiter, a positive int or None", wrong_type=True
    )


def check_run_in(where: str, value: Any, **ctx: Any) -> Placement | str:
    """Check a node's ``run_in=`` option: a placement, or a placement name.

    Args:
        where: the prefix of error messages, e.g. ``"node 'a' of DAG 'D'"``.
        value: the option's value.
        ctx: ``dag=``, ``node=``, ``definition=`` for the error (see ``_validate``).

    Raises:
        InvalidOptionError: (also a ``TypeError``) neither a :class:`Placement`
            nor a str; (a ``ValueError``) an empty or blank name.
    """
    if isinstance(value, Placement):
        return value
    if not isinstance(value, str):
        reject(
            where,
            "run_in",
            value,
            "a placement (trio_dag.InThread(), InProcess(), InExecutor(executor)) "
            "or the name of one",
            wrong_type=True,
            **ctx,
        )
    if not value.strip():
        reject(where, "run_in", value, "a non-empty placement name", **ctx)
    return value


def bind_placements(
    where: str, needed: Iterable[str], given: Mapping[str, Placement] | None
) -> dict[str, Placement]:
    """Resolve placement names at run start.

    Args:
        where: the prefix of error messages, e.g. ``"DAG 'Nightly': run"``.
        needed: the names the DAG's nodes declared with ``run_in="name"``.
        given: the run's ``placements=`` mapping (extra names are allowed:
            one mapping may serve several DAGs).

    Raises:
        InvalidOptionError: (also a ``TypeError``) ``given`` is not a mapping,
            or a value is not a placement.
        InputError: a needed name has no placement.
    """
    if given is None:
        given = {}
    elif not isinstance(given, Mapping):
        reject(where, "placements", given, "a mapping of names to placements", wrong_type=True)
    for name, p in given.items():
        if not isinstance(p, Placement):
            reject(
                where,
                f"placements[{name!r}]",
                p,
                "a trio_dag placement (InThread(), InProcess(), InExecutor(executor))",
                wrong_type=True,
            )
    _unbound(
        where, "placement for run_in", "placements", "trio_dag.InExecutor(...)", needed, given
    )
    return dict(given)


def bind_limiters(
    where: str, needed: Iterable[str], given: Mapping[str, trio.CapacityLimiter | int] | None
) -> dict[str, trio.CapacityLimiter]:
    """Resolve named capacity limits at run start (call it inside the run).

    Args:
        where: the prefix of error messages.
        needed: the names the DAG's nodes declared with ``limiter="name"``.
        given: the run's ``limiters=`` mapping: a positive int (a new
            :class:`trio.CapacityLimiter` for this run) or a limiter (shared
            with whoever else holds it).

    Raises:
        InvalidOptionError: ``given`` is not a mapping, a value is neither an
            int nor a limiter (also a ``TypeError``), or an int < 1.
        InputError: a needed name has no limit.
    """
    if given is None:
        given = {}
    elif not isinstance(given, Mapping):
        reject(where, "limiters", given, "a mapping of names to limits", wrong_type=True)
    out: dict[str, trio.CapacityLimiter] = {}
    for name, value in given.items():
        option = f"limiters[{name!r}]"
        if isinstance(value, trio.CapacityLimiter):
            out[name] = value
        elif isinstance(value, int) and not isinstance(value, bool):
            out[name] = trio.CapacityLimiter(check_int(where, option, value, minimum=1))
        else:
            reject(
                where, option, value, "a trio.CapacityLimiter or a positive int", wrong_type=True
            )
    _unbound(where, "limit for limiter", "limiters", "4", needed, out)
    return out


def _unbound(
    where: str,
    what: str,
    option: str,
    example: str,
    needed: Iterable[str],
    given: Mapping[str, Any],
) -> None:
    """Raise the :class:`InputError` for names the DAG declared and the run did not bind."""
    missing = sorted(set(needed) - given.keys())
    if missing:
        raise InputError(
            f"{where}: no {what} name(s) {', '.join(map(repr, missing))}; "
            f"pass {option}={{{missing[0]!r}: {example}}} to the run",
            missing=missing,
        )


def check_shared_limiters(
    where: str,
    names: Sequence[str],
    placed: Sequence[Placement | None],
    limited: Sequence[trio.CapacityLimiter | None],
) -> None:
    """Reject a node whose run limiter is also its placement's own ``limiter``.

    Such a node's attempt holds a token of the run limiter (``limiter=``,
    bound by ``limiters=``) while its placement waits for a second token of
    the same limiter: with one token it waits forever, with more the nodes
    holding one each can starve one another.

    Raises:
        InvalidOptionError: naming the node, the limiter and the placement.
    """
    for name, p, lim in zip(names, placed, limited, strict=True):
        if lim is not None and p is not None and getattr(p, "limiter", None) is lim:
            raise option_error(
                f"{where}: node {name!r} holds a token of its limiter {lim!r} (limiter= "
                f"bound by limiters=) while its placement {p!r} waits for another token of "
                f"the same limiter, which never comes with 1 token; give the placement a "
                f"limiter of its own, or drop one of the two",
                option="limiter",
                value=lim,
                node=name,
            )
