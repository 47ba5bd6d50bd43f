"""The public surface: everything in ``trio_dag.__all__`` is real, documented
in docs/api.rst, and reported as ``trio_dag.X``; nothing private leaks."""

from __future__ import annotations

import inspect
import pickle
import re
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

import trio_dag

API_RST = Path(__file__).resolve().parents[1] / "docs" / "api.rst"
SUBPACKAGES = {"instruments", "interop", "testing"}  # public subpackages, imported on demand only

# ``.. autoclass:: Name`` or ``.. autofunction:: name(explicit signature)``
AUTO_DIRECTIVE = re.compile(
    r"^\.\. auto(?:class|function|exception|data)::\s+(?:trio_dag\.)?(\w+)(\(.*\))?\s*$",
    re.MULTILINE,
)


def _api_rst() -> str:
    return API_RST.read_text(encoding="utf-8")


def _documented() -> dict[str, str | None]:
    """Names given an autodoc directive in api.rst, with their explicit signature, if any."""
    return {m.group(1): m.group(2) for m in AUTO_DIRECTIVE.finditer(_api_rst())}


def test_all_has_no_duplicates_and_no_private_names() -> None:
    assert len(trio_dag.__all__) == len(set(trio_dag.__all__))
    private = [name for name in trio_dag.__all__ if name.startswith("_")]
    assert private == []


@pytest.mark.parametrize("name", trio_dag.__all__)
def test_public_name_exists_and_has_a_docstring(name: str) -> None:
    obj = getattr(trio_dag, name)
    doc = inspect.getdoc(obj)
    assert doc, f"trio_dag.{name} has no docstring"
    if isinstance(obj, type):
        # an inherited docstring (object's, Exception's) does not document a class
        assert vars(obj).get("__doc__"), f"{name} inherits its docstring"


@pytest.mark.parametrize("name", trio_dag.__all__)
def test_public_name_appears_in_api_rst(name: str) -> None:
    automodule_members = re.search(
        r"^\.\. automodule:: trio_dag\s*\n(?:\s+:\S.*\n)*?\s+:members:\s*$", _api_rst(), re.M
    )
    assert name in _documented() or automodule_members, (
        f"trio_dag.{name} is public but docs/api.rst has no autodoc directive for it"
    )


def test_api_rst_documents_only_public_names() -> None:
    stale = [name for name in _documented() if name not in trio_dag.__all__]
    assert stale == [], f"docs/api.rst documents names that are not in trio_dag.__all__: {stale}"


def test_explicit_signatures_in_api_rst_match_the_code() -> None:
    """api.rst overrides a few signatures (to hide internal constructors or
    unreadable defaults); the parameter names must still be the real ones."""
    for name, sig in _documented().items():
        if not sig or sig == "()":
            continue
        written = [p.split("=")[0].strip(" []*") for p in sig[1:-1].replace("[", ",").split(",")]
        written = [p for p in written if p]
        params = [
            p.name
            for p in inspect.signature(getattr(trio_dag, name)).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        assert written == params, f"api.rst signature of {name} {sig} does not match {params}"


@pytest.mark.parametrize("name", trio_dag.__all__)
def test_public_classes_and_functions_report_the_public_module(name: str) -> None:
    obj = getattr(trio_dag, name)
    if isinstance(obj, type | types.FunctionType):
        assert obj.__module__ == "trio_dag", f"{name}.__module__ is {obj.__module__!r}"


@pytest.mark.parametrize(
    "name", [n for n in trio_dag.__all__ if isinstance(getattr(trio_dag, n), type)]
)
def test_public_methods_and_properties_have_docstrings(name: str) -> None:
    cls = getattr(trio_dag, name)
    undocumented = []
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        if isinstance(value, classmethod | staticmethod):
            value = value.__func__
        if isinstance(value, types.FunctionType | property) and not inspect.getdoc(value):
            undocumented.append(attr)
    assert undocumented == [], f"{name}: undocumented public members {undocumented}"


def test_no_private_module_or_stray_name_is_public() -> None:
    leaks = []
    for attr, value in vars(trio_dag).items():
        if attr.startswith("_"):
            continue
        if isinstance(value, types.ModuleType):
            if attr not in SUBPACKAGES:
                leaks.append(attr)
        elif attr not in trio_dag.__all__:
            leaks.append(attr)
    assert leaks == [], f"public attributes of trio_dag outside __all__: {leaks}"


def test_subpackages_are_not_imported_by_default() -> None:
    subpackages = sorted(SUBPACKAGES)
    code = (
        "import sys, trio_dag; "
        "print(sorted(m for m in sys.modules "
        f"if m.split('.')[:2] in {[['trio_dag', p] for p in subpackages]!r}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
    for p in subpackages:  # each name is a real subpackage
        assert (Path(trio_dag.__file__).parent / p / "__init__.py").is_file(), p


def test_exception_hierarchy_is_as_documented() -> None:
    td = trio_dag
    for exc in (
        td.DAGDefinitionError,
        td.InputError,
        td.MapError,
        td.RunFailed,
        td.SerializationError,
    ):
        assert issubclass(exc, td.DAGError)
    for exc in (
        td.CycleError,
        td.UnknownDependencyError,
        td.DuplicateNodeError,
        td.InvalidNodeError,
    ):
        assert issubclass(exc, td.DAGDefinitionError)
    assert issubclass(td.InvalidOptionError, td.DAGError)
    assert issubclass(td.InvalidOptionError, ValueError)
    assert issubclass(td.InputError, ValueError)
    assert issubclass(td.MapError, TypeError)
    assert issubclass(td.SerializationError, TypeError)


@pytest.mark.parametrize(
    ("make", "option", "is_type", "is_definition"),
    [
        (lambda: trio_dag.Parallel(max_concurrency=0), "max_concurrency", False, False),
        (lambda: trio_dag.Parallel(max_concurrency="2"), "max_concurrency", True, False),
        (lambda: trio_dag.Supervisor(period=float("nan")), "period", False, False),
        (lambda: trio_dag.Supervisor(period=10**400), "period", False, False),
        (lambda: trio_dag.RetryPolicy(backoff=0.5), "backoff", False, False),
        (lambda: trio_dag.RetryPolicy(predicate=3), "predicate", True, False),
        (lambda: trio_dag.get(""), "name", True, False),
        (lambda: trio_dag.node(retries=3), "retries", True, False),
        (
            lambda: trio_dag.DAG.from_nodes("D", [trio_dag.Node("a", _noop, timeout=-1)]),
            "timeout",
            False,
            True,
        ),
        (
            lambda: trio_dag.DAG.from_nodes("D", [trio_dag.Node("a", _noop, retry=True)]),
            "retry",
            True,
            True,
        ),
        (lambda: _Tiny.run_sync(deadline=10**400), "deadline", False, False),
        (lambda: _Tiny.run_sync(on_failure="later"), "on_failure", False, False),
        (lambda: _Tiny.run_sync(strategy="eager"), "strategy", True, False),
        (lambda: _Tiny.run_sync(seed=1.5), "seed", True, False),
        (lambda: _Tiny.run_sync(instruments=[object()]), "instruments", True, False),
        (lambda: _Tiny.run_sync(inputs=[1]), "inputs", True, False),
        (lambda: trio.run(_open_stream, 0), "max_in_flight", False, False),
    ],
)
def test_one_error_type_for_every_bad_value(
    make: Callable[[], object], option: str, is_type: bool, is_definition: bool
) -> None:
    """Wherever a bad value is given, it is an InvalidOptionError naming the option
    (also a TypeError for a wrong type, a DAGDefinitionError for a node option)."""
    with pytest.raises(trio_dag.InvalidOptionError) as info:
        make()
    err = info.value
    assert err.option == option
    assert option in str(err)
    assert isinstance(err, ValueError)
    assert isinstance(err, TypeError) is is_type
    assert isinstance(err, trio_dag.DAGDefinitionError) is is_definition
    assert type(err).__name__ == "InvalidOptionError"
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is type(err)
    assert (str(again), again.option) == (str(err), err.option)


async def _open_stream(max_in_flight: int) -> None:
    async with _Tiny.stream([], max_in_flight=max_in_flight):
        pass  # pragma: no cover - the options are checked on entry


async def _noop() -> None:
    return None


class _Tiny(trio_dag.DAG):
    @trio_dag.node
    async def a() -> int:
        return 1


# -- examples ------------------------------------------------------------------

DOCS = API_RST.parent
_PUBLIC_MODULES = (
    "trio_dag",
    "trio_dag.instruments",
    "trio_dag.testing",
    "trio_dag.interop.wfformat",
)


def _public_objects() -> dict[str, object]:
    import importlib

    out = {}
    for modname in _PUBLIC_MODULES:
        mod = importlib.import_module(modname)
        for name in mod.__all__:
            out[f"{modname}.{name}"] = getattr(mod, name)
    return out


def _examples(obj: object, name: str) -> list[str]:
    """Source and expected output of every doctest in ``obj``'s docstrings."""
    import doctest

    tests = doctest.DocTestFinder().find(obj, name, module=False)
    return [e.source + e.want for t in tests for e in t.examples]


def test_every_public_name_has_an_example() -> None:
    """Each public name has a doctest in its own docstring (or its members'),
    or appears in a doctest of a guide or of another public docstring."""
    import doctest

    parser = doctest.DocTestParser()
    texts = [
        e.source + e.want
        for page in DOCS.rglob("*.rst")
        for e in parser.get_examples(page.read_text(encoding="utf-8"))
    ]
    own = {name: _examples(obj, name) for name, obj in _public_objects().items()}
    everything = "\n".join(texts + [x for ex in own.values() for x in ex])
    missing = {
        name
        for name, ex in own.items()
        if not ex and not re.search(rf"\b{name.rsplit('.', 1)[1]}\b", everything)
    }
    assert missing == set(), "public names without any example"


def test_examples_in_public_methods_run() -> None:
    """pytest's doctest collection skips the methods of re-exported classes
    (their functions' globals are a private module's), so run those here."""
    import doctest

    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    ran = []
    for name, obj in _public_objects().items():
        if not isinstance(obj, type):
            continue
        for test in doctest.DocTestFinder().find(obj, name, module=False):
            if test.name == name or not test.examples:
                continue  # the class docstring itself: pytest runs it
            runner.run(test)
            ran.append(test.name)
    assert runner.summarize(verbose=False).failed == 0
    assert "trio_dag.DAG.run" in ran


def test_no_attribute_docstrings_in_class_bodies() -> None:
    """Attributes are documented in ``Attributes:`` sections: Sphinx cannot find
    a string after an assignment in a re-exported class without patching it."""
    import ast

    found = []
    for path in sorted((Path(trio_dag.__file__).parent).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            for a, b in zip(node.body, node.body[1:], strict=False):
                if (
                    isinstance(a, ast.Assign | ast.AnnAssign)
                    and isinstance(b, ast.Expr)
                    and isinstance(b.value, ast.Constant)
                    and isinstance(b.value.value, str)
                ):
                    found.append(f"{path.name}:{b.lineno} in {node.name}")
    assert found == []
