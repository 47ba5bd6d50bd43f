"""Code versions, data versions and node keys (the hashing behind caches and journals)."""

from __future__ import annotations

import functools
import os
import pickle
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

from trio_dag._serialize import code_version, data_version, node_key, serializer_id


def _make(k: int) -> Any:
    async def body(x: int) -> int:
        return x + k

    return body


async def plus_one(x: int) -> int:
    return x + 1


async def plus_one_again(x: int) -> int:
    return x + 1


async def plus_two(x: int) -> int:
    return x + 2


async def with_default(x: int, step: int = 1) -> int:
    return x + step


def test_same_code_same_version_and_other_code_another() -> None:
    v = code_version(plus_one)
    assert v is not None
    assert len(v) == 64
    assert v == code_version(plus_one)
    assert v == code_version(plus_one_again)  # only the name differs: same code
    assert v != code_version(plus_two)  # a constant differs


def test_closure_values_and_defaults_are_part_of_the_version() -> None:
    assert code_version(_make(1)) == code_version(_make(1))
    assert code_version(_make(1)) != code_version(_make(2))
    f = with_default
    before = code_version(f)
    f.__defaults__ = (2,)
    try:
        assert code_version(f) != before
    finally:
        f.__defaults__ = (1,)
    assert code_version(f) == before


def test_nested_code_and_functions_in_closures_are_hashed_by_code() -> None:
    def outer(k: int) -> Any:
        def helper(x: int) -> int:
            return x * k

        async def body(x: int) -> int:
            return helper(x) + sum(y for y in range(3))

        return body

    assert code_version(outer(2)) == code_version(outer(2))
    assert code_version(outer(2)) != code_version(outer(3))  # helper's closure differs


def test_explicit_version_wins_and_unpicklable_closure_has_no_version() -> None:
    lock = threading.Lock()

    async def body(x: int) -> int:
        with lock:
            return x

    assert code_version(body) is None  # never a weaker version
    assert code_version(body, "v1") == code_version(plus_one, "v1")
    assert code_version(body, "v1") != code_version(body, "v2")


def test_partials_methods_objects_and_recursion() -> None:
    p1 = functools.partial(with_default, step=1)
    p2 = functools.partial(with_default, step=2)
    assert code_version(p1) != code_version(p2)

    class Adder:
        def __init__(self, k: int) -> None:
            self.k = k

        async def __call__(self, x: int) -> int:
            return x + self.k

    assert code_version(Adder(1)) == code_version(Adder(1))
    assert code_version(Adder(1)) != code_version(Adder(2))
    assert code_version(Adder(1).__call__) is not None

    async def rec(x: int) -> int:
        return await rec(x - 1) if x else 0

    assert code_version(rec) is not None
    assert code_version(len) is None  # a builtin has no code to hash


def test_frozenset_constants_hash_the_same_under_any_hash_seed(tmp_path: Path) -> None:
    (tmp_path / "mod_cv.py").write_text(
        textwrap.dedent(
            """
            async def body(x):
                return x in {"alpha", "beta", "gamma", "delta", "epsilon"}
            """
        )
    )
    script = (
        "import mod_cv; from trio_dag._serialize import code_version; "
        "print(code_version(mod_cv.body))"
    )
    out = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": f"{tmp_path}:src"}
        res = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        out.add(res.stdout.strip())
    assert len(out) == 1


def test_node_keys_chain_short_data_versions() -> None:
    a, b = data_version(b"one"), data_version(b"two")
    k = node_key("D", "n", "cv", "pickle", [a, b])
    assert k == node_key("D", "n", "cv", "pickle", [a, b])
    assert k != node_key("D", "n", "cv", "pickle", [b, a])  # argument order matters
    assert k != node_key("D", "m", "cv", "pickle", [a, b])
    assert k != node_key("E", "n", "cv", "pickle", [a, b])
    assert k != node_key("D", "n", "cv2", "pickle", [a, b])
    assert k != node_key("D", "n", "cv", "json", [a, b])
    assert node_key("D", "n", "cv", "pickle", [a, None]) is None  # never a weaker key


def test_serializer_ids() -> None:
    assert serializer_id(pickle) == "pickle"

    class Named:
        name = "json-v1"

    assert serializer_id(Named()) == "json-v1"

    class Anonymous:
        pass

    assert serializer_id(Anonymous()).endswith("Anonymous")
