"""Bridges between trio_dag and other workflow formats.

Each format lives in its own submodule, imported on demand (``import
trio_dag`` does not load them):

- :mod:`trio_dag.interop.wfformat`: WfCommons WfFormat instances (recorded
  executions of real scientific workflows) replayed as sleeping DAGs.
"""
