"""The definition-time type check: a dependency's declared return class against
the class of the parameter that receives it.

A mismatch between two plain classes, neither a subclass of the other, is a
``td.TypeMismatchError`` naming both nodes and both types. Everything the
check cannot decide is allowed: the false-positive cases guarded against are
listed in ``ALLOWED`` below, each a (return annotation, parameter annotation)
pair that must define without error.
"""

from __future__ import annotations

import abc
import collections.abc
import dataclasses
import enum
import numbers
from typing import (
    Annotated,
    Any,
    Literal,
    NamedTuple,
    NewType,
    Optional,
    Protocol,
    TypedDict,
    TypeVar,
    Union,
)

import pytest

import trio_dag as td
from conftest import check_message

T = TypeVar("T")
UserId = NewType("UserId", int)


class Animal:
    pass


class Dog(Animal):
    pass


class Cat(Animal):
    pass


class HasLen(Protocol):
    def __len__(self) -> int: ...


class Shape(abc.ABC):  # an ABC without a __subclasshook__: register() may come later
    @abc.abstractmethod
    def area(self) -> float: ...


class Point(NamedTuple):
    x: int


class Movie(TypedDict):
    title: str


class Color(enum.Enum):
    RED = 1


@dataclasses.dataclass
class Box:
    size: int


def _dag(ret: Any, param: Any) -> type[td.DAG]:
    """A from_nodes DAG: 'make' declares it returns ``ret``, 'use' takes ``param``."""

    async def make() -> Any:
        return None

    async def use(value: Any) -> Any:
        return value

    make.__annotations__ = {"return": ret}
    use.__annotations__ = {"value": param}
    return td.DAG.from_nodes("Typed", [td.Node("make", make), td.Node("use", use, ("make",))])


# (what the dependency declares it returns, what the parameter declares)
ALLOWED: list[tuple[Any, Any]] = [
    (int, int),
    (int, float),  # PEP 484: an int is acceptable where a float is declared
    (int, complex),
    (float, complex),
    (bytearray, bytes),
    (memoryview, bytes),
    (bool, int),  # a subclass
    (int, bool),  # a value declared int may be a bool: a subclass relation is possible
    (Dog, Animal),
    (Animal, Dog),
    (Any, str),
    (str, Any),
    (object, str),  # anything goes
    (str, object),
    (T, str),  # a TypeVar
    (str, T),
    (UserId, str),  # a NewType is not a class
    (str, UserId),
    (Optional[int], str),  # noqa: UP045 - the typing spelling on purpose
    (Union[int, str], bytes),  # noqa: UP007
    (int | None, str),
    (str, int | None),
    (Literal["a"], int),
    (HasLen, int),  # Protocols
    (int, HasLen),
    (list[int], collections.abc.Iterable),  # ABCs with a __subclasshook__
    (collections.abc.Sized, int),
    (int, numbers.Number),  # ABCs take register()ed virtual subclasses
    (Dog, Shape),  # ... even ones without a hook: Shape.register(Dog) may come later
    (Shape, Dog),
    (list[int], list[str]),  # a generic is compared by its class only
    (list[int], list),
    (dict[str, int], dict),
    (Movie, dict),  # TypedDict classes refuse issubclass
    (dict, Movie),
    (Point, tuple),
    (tuple[int, ...], Point),
    (Annotated[int, "meta"], float),
    ("NoSuchName", int),  # a string that cannot be resolved
    (int, "NoSuchName"),
    ("int", "float"),  # strings that can are resolved: int for float is fine
    (None, type(None)),
]

MISMATCHED: list[tuple[Any, Any, str, str]] = [
    (list[int], str, "list", "str"),  # the example
    (str, int, "str", "int"),
    (float, int, "float", "int"),
    (Dog, Cat, "Dog", "Cat"),
    (Color, int, "Color", "int"),
    (Box, dict, "Box", "dict"),
    (None, int, "NoneType", "int"),
    ("str", "bytes", "str", "bytes"),
]


@pytest.mark.parametrize(("ret", "param"), ALLOWED)
def test_what_the_check_cannot_decide_or_is_compatible_is_allowed(ret: Any, param: Any) -> None:
    assert _dag(ret, param).graph.nodes == ("make", "use")


@pytest.mark.parametrize(("ret", "param", "got", "want"), MISMATCHED)
def test_plain_classes_that_cannot_match_are_a_definition_error(
    ret: Any, param: Any, got: str, want: str
) -> None:
    with pytest.raises(td.TypeMismatchError) as ei:
        _dag(ret, param)
    e = ei.value
    assert isinstance(e, td.DAGDefinitionError)
    assert (e.dag, e.node, e.parameter, e.dependency) == ("Typed", "use", "value", "make")
    assert e.expected.__name__ == want
    assert e.got.__name__ == got
    check_message(e, "Typed", "'use'", "'value'", "'make'", got, want)


def test_class_body_mismatch_names_both_nodes_and_both_types() -> None:
    with pytest.raises(td.TypeMismatchError) as ei:

        class Numbers(td.DAG):
            @td.node
            async def numbers() -> list[int]:
                return [1, 2]

            @td.node
            async def total(numbers: str) -> int:
                return len(numbers)

    assert str(ei.value) == (
        "node 'total' of DAG 'Numbers': parameter 'numbers' is annotated str, but "
        "'numbers' returns list; neither class is a subclass of the other, so the value "
        "cannot be what the parameter expects: fix the annotation of one of them"
    )


def test_mismatch_through_get_names_the_parameter_and_the_dependency() -> None:
    with pytest.raises(td.TypeMismatchError, match=r"parameter 'n' \(from dependency 'count'\)"):

        class Counted(td.DAG):
            @td.node
            async def count() -> int:
                return 1

            @td.node
            async def show(n: str = td.get("count")) -> str:
                return n


def test_map_nodes_value_is_a_list_and_the_mapped_parameter_one_element() -> None:
    class Mapped(td.DAG):
        xs = td.input()

        @td.node
        async def words() -> list[str]:
            return ["a", "bb"]

        @td.node(map_over="words")  # receives one str of the list[str]
        async def length(words: str) -> int:
            return len(words)

        @td.node
        async def total(length: list[int]) -> int:  # the map node's value is a list
            return sum(length)

    assert Mapped.run_sync({"xs": 1})["total"] == 3

    with pytest.raises(
        td.TypeMismatchError, match="'length' is a map node, whose value is a list"
    ):

        class Wrong(td.DAG):
            @td.node
            async def words() -> list[str]:
                return ["a"]

            @td.node(map_over="words")
            async def length(words: str) -> int:
                return len(words)

            @td.node
            async def total(length: int) -> int:
                return length


def test_keyword_deps_and_positional_star_args_are_checked() -> None:
    async def make() -> str:
        return "x"

    async def use(*, value: int) -> int:
        return value

    async def many(*values: int) -> int:
        return sum(values)

    with pytest.raises(td.TypeMismatchError, match="parameter 'value'"):
        td.DAG.from_nodes("K", [td.Node("make", make), td.Node("use", use, {"value": "make"})])
    with pytest.raises(td.TypeMismatchError, match=r"parameter '\*args'"):
        td.DAG.from_nodes("S", [td.Node("make", make), td.Node("sum", many, ("make",))])


def test_inputs_unannotated_functions_and_callable_objects_are_not_checked() -> None:
    class Call:
        async def __call__(self, value: int) -> int:
            return value

    async def make() -> str:
        return "x"

    async def bare(value):  # type: ignore[no-untyped-def]
        return value

    dag = td.DAG.from_nodes(
        "Loose",
        [
            td.Node("make", make),
            td.Node("obj", Call(), ("make",)),
            td.Node("bare", bare, ("make",)),
            td.Node("inp", Call(), ("x",)),
        ],
        inputs=["x"],
    )
    assert dag.graph.nodes == ("make", "obj", "bare", "inp")


def test_extend_checks_the_new_edges() -> None:
    class Base(td.DAG):
        @td.node
        async def count() -> int:
            return 1

    async def shout(text: str) -> str:
        return text.upper()

    with pytest.raises(td.TypeMismatchError, match="'shout'"):
        Base.extend("Ext", [td.Node("shout", shout, ("count",))])


def test_annotations_resolve_one_by_one_when_one_cannot() -> None:
    async def make() -> Any:
        return None

    async def use(value: Any, other: Any = None) -> Any:
        return value

    # get_type_hints fails on "Missing"; every other annotation is still read
    make.__annotations__ = {"return": "None"}
    use.__annotations__ = {"value": Annotated[int, "meta"], "other": "Missing"}
    with pytest.raises(td.TypeMismatchError, match="annotated int, but 'make' returns NoneType"):
        td.DAG.from_nodes("One", [td.Node("make", make), td.Node("use", use, ("make",))])
    use.__annotations__ = {"value": Annotated[float, "meta"], "other": "Missing"}
    make.__annotations__ = {"return": int, "x": "Missing"}
    dag = td.DAG.from_nodes("Two", [td.Node("make", make), td.Node("use", use, ("make",))])
    assert dag.graph.nodes == ("make", "use")
