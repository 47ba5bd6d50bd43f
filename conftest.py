"""Root conftest: keep non-test modules out of doctest collection."""

collect_ignore = ["src/trio_dag/__main__.py", "docs/conf.py"]
