"""A DAG per request inside a trio HTTP server, with live progress and cancellation.

A deliberately tiny HTTP/1.0 server on ``trio.serve_tcp`` (no framework):
``GET /report?day=2026-11-26`` starts a run of ``Report`` with
``Report.start`` and streams one progress line per change
(``run.watch()``), then the result. Each request has its own run and its
own deadline; if the client hangs up, the run is cancelled at once (a task
watches the connection and calls ``run.cancel()``), so no work is left
behind for a reader who is gone.

Run it: ``python examples/http_server.py`` serves on 127.0.0.1, sends itself
one request, prints the response and exits; ``--serve`` keeps serving (try
``curl -N 'http://127.0.0.1:8080/report?day=2026-11-26'``).
"""

from __future__ import annotations

import functools
import sys
from urllib.parse import parse_qs, urlsplit

import trio

import trio_dag as td


class Report(td.DAG):
    day = td.input()

    @td.node
    async def users(day):
        await trio.sleep(0.05)  # a database query
        return ["ann", "bob"]

    @td.node(retry=td.RetryPolicy(max_attempts=3, initial_delay=0.01), timeout=1.0)
    async def orders(day):
        await trio.sleep(0.1)  # a slower service
        return [12.5, 30.0]

    @td.node
    async def summary(users, orders, day):
        return f"{day}: {len(users)} users, {sum(orders)} revenue"


async def read_request(stream: trio.SocketStream) -> str:
    """The request line of an HTTP request (headers are read and ignored)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(4096)
        if not chunk or len(data) > 65536:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0].decode("latin-1")


OUTCOMES: list[str] = []  # how each request's run ended (the test reads it)


async def handle(stream: trio.SocketStream) -> None:
    async with stream:
        try:
            await respond(stream)
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client left while we wrote: its run was cancelled already


async def respond(stream: trio.SocketStream) -> None:
    request = await read_request(stream)
    method, target, *_ = [*request.split(" "), "", ""]
    url = urlsplit(target)
    day = parse_qs(url.query).get("day", [""])[0]
    if method != "GET" or url.path != "/report" or not day:
        await stream.send_all(b"HTTP/1.0 404 Not Found\r\n\r\nGET /report?day=YYYY-MM-DD\n")
        return
    await stream.send_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")

    async def cancel_when_client_leaves(run: td.RunHandle) -> None:
        while await stream.receive_some(4096):  # b"" once the client hung up
            pass
        run.cancel()

    with trio.move_on_after(10):  # this request's deadline
        async with Report.start({"day": day}) as run:
            async with trio.open_nursery() as watchers:
                watchers.start_soon(cancel_when_client_leaves, run)
                async for p in run.watch():
                    if not p.finished:
                        names = ", ".join(p.running_names) or "-"
                        line = f"{p.done}/{p.total} done, running {names}\n"
                        await stream.send_all(line.encode())
                watchers.cancel_scope.cancel()
            try:
                result = await run.wait()
                outcome = f"result: {result['summary']}"
            except td.RunFailed as exc:
                outcome = f"stopped: {exc.result.status}"
            OUTCOMES.append(outcome)
            await stream.send_all(outcome.encode() + b"\n")


async def get(port: int, target: str) -> str:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"GET {target} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        body = b""
        while chunk := await stream.receive_some(4096):
            body += chunk
    return body.decode()


async def main(serve_forever: bool = False) -> None:
    async with trio.open_nursery() as nursery:
        port = 8080 if serve_forever else 0
        serve = functools.partial(trio.serve_tcp, handle, port, host="127.0.0.1")
        listeners = await nursery.start(serve)
        if serve_forever:
            await trio.sleep_forever()
        port = listeners[0].socket.getsockname()[1]
        print(await get(port, "/report?day=2026-11-26"))
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main, "--serve" in sys.argv)
