"""Export of a compiled graph: Mermaid and Graphviz DOT text.

:meth:`Graph.to_mermaid <trio_dag.Graph.to_mermaid>` and
:meth:`Graph.to_dot <trio_dag.Graph.to_dot>` call these with the graph's
parts (names and node specs), so this module knows nothing of the
:class:`~trio_dag.Graph` class.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._nodespec import NodeSpec

__all__ = ["to_dot", "to_mermaid"]


def to_mermaid(
    inputs: Sequence[str],
    resources: Sequence[str],
    nodes: Sequence[str],
    specs: Sequence[NodeSpec],
) -> str:
    """The Mermaid flowchart of a graph (see :meth:`trio_dag.Graph.to_mermaid`)."""
    ids = {name: f"n{i}" for i, name in enumerate(nodes)}
    ids.update({inp: f"i{k}" for k, inp in enumerate(inputs)})
    ids.update({res: f"r{k}" for k, res in enumerate(resources)})
    lines = ["flowchart TD"]
    lines += [f'    {ids[inp]}(["{_esc_mermaid(inp)}"])' for inp in inputs]
    lines += [f'    {ids[res]}{{{{"{_esc_mermaid(res)}"}}}}' for res in resources]
    lines += [f'    {ids[name]}["{_esc_mermaid(name)}"]' for name in nodes]
    for spec in specs:
        lines += [f"    {ids[dep]} --> {ids[spec.name]}" for dep in spec.deps]
        lines += [f"    {ids[dep]} -.-> {ids[spec.name]}" for dep in spec.after]
    return "\n".join(lines) + "\n"


def to_dot(
    name: str,
    inputs: Sequence[str],
    resources: Sequence[str],
    nodes: Sequence[str],
    specs: Sequence[NodeSpec],
) -> str:
    """The Graphviz DOT text of a graph (see :meth:`trio_dag.Graph.to_dot`)."""
    lines = [f"digraph {_esc_dot(name)} {{", "    rankdir=TB;"]
    lines += [f"    {_esc_dot(inp)} [shape=ellipse];" for inp in inputs]
    lines += [f"    {_esc_dot(res)} [shape=hexagon];" for res in resources]
    lines += [f"    {_esc_dot(node)} [shape=box];" for node in nodes]
    for spec in specs:
        lines += [f"    {_esc_dot(dep)} -> {_esc_dot(spec.name)};" for dep in spec.deps]
        lines += [
            f"    {_esc_dot(dep)} -> {_esc_dot(spec.name)} [style=dashed];" for dep in spec.after
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


# Characters Python's str.splitlines() breaks a line at, besides the C0 controls.
_LINE_BREAKS = "\x85\u2028\u2029"
_CONTROLS = [chr(c) for c in (*range(0x20), 0x7F)] + list(_LINE_BREAKS)

# Mermaid decodes ``#quot;`` and ``#<decimal>;`` in a label. Escaped: the escape
# character ``#``; what ends or confuses a quoted label or its markdown form
# (``"`` ``[`` ``]`` ``|`` ``<`` ``>`` `````` ``\``); ``&``, as labels are HTML;
# and every control or line-break character, so one node stays on one line.
_MERMAID = str.maketrans(
    {c: f"#{ord(c)};" for c in ["#", "&", "\\", "[", "]", "|", "<", ">", "`", *_CONTROLS]}
    | {'"': "#quot;"}
)
# In a DOT quoted string only ``"`` needs a backslash; labels then read ``\\`` as
# ``\``, ``\n``/``\r`` as line breaks and HTML entities such as ``&#11;``.
_DOT = str.maketrans(
    {c: f"&#{ord(c)};" for c in _CONTROLS}
    | {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "&": "&amp;"}
)


def _esc_mermaid(s: str) -> str:
    return s.translate(_MERMAID)


def _esc_dot(s: str) -> str:
    return '"' + s.translate(_DOT) + '"'
