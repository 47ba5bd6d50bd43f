"""A self-contained SVG Gantt chart of a run: one bar per attempt, a lane per slot."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import final
from xml.sax.saxutils import escape, quoteattr

from ._recorder import AttemptRecord, AttemptStatus, Recorder, Recording
from ._trace import write_atomically

__all__ = ["Timeline"]

# fill, text colour on the bar, legend label
_STYLE: dict[AttemptStatus, tuple[str, str, str]] = {
    AttemptStatus.COMPLETED: ("#2f9e6b", "#ffffff", "completed"),
    AttemptStatus.RETRIED: ("#f0a53a", "#3b2600", "failed, retried"),
    AttemptStatus.FAILED: ("#d64545", "#ffffff", "failed"),
    AttemptStatus.CANCELLED: ("url(#cancelled)", "#1f2933", "cancelled"),
    AttemptStatus.RUNNING: ("#4a7bd0", "#ffffff", "running"),
}
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Helvetica, Arial, sans-serif"
_NARROW = frozenset("fijlrtI.,:;!|'()[] ")
_WIDE = frozenset("mwMW@%")
_LEFT, _RIGHT, _TOP = 64.0, 24.0, 72.0


@final
class Timeline(Recorder):
    """Records a run's attempts and draws them as an SVG Gantt chart.

    One lane per concurrent slot (an attempt takes the lowest lane free when
    it starts), one bar per attempt coloured by outcome (completed, failed
    and retried, failed, cancelled; a legend says which), so each retry is a
    bar of its own; node names are written on the bars wide enough for them,
    and every bar has a tooltip (node, attempt, outcome, times, error). A
    time axis with ticks runs along the bottom. The SVG is self-contained
    (no scripts, fonts or stylesheets from elsewhere).

    It shares its recorder with :class:`ChromeTrace`; each map element is a
    bar too (on a lane of its own, beside its map node's bar, which spans
    them all), up to ``max_elements`` per run
    (default 1,000: more bars than that no longer read as a picture), and
    the chart says how many it left out.

    Args:
        max_elements: how many map-element attempts to draw per run.
        width: the SVG's width in pixels (its height follows from the lanes).

    Raises:
        ValueError: ``max_elements`` is not an int >= 0, or ``width`` is below 300.

    Example::

        timeline = Timeline()
        await Report.run(inputs, instruments=[timeline])
        timeline.write_svg("run.svg")
    """

    def __init__(self, *, max_elements: int = 1_000, width: int = 1000) -> None:
        super().__init__(max_elements=max_elements)
        if isinstance(width, bool) or not isinstance(width, int) or width < 300:
            raise ValueError(f"Timeline: width must be an int >= 300, got {width!r}")
        self.width = width

    def __repr__(self) -> str:
        return f"Timeline(max_elements={self.max_elements}, width={self.width})"

    def to_svg(self, rec: Recording | None = None) -> str:
        """The SVG of ``rec`` (default: :attr:`recording`) as a string.

        Raises:
            RuntimeError: there is no recording yet.
        """
        return render_svg(self._recording_or_last(rec), self.width)

    def write_svg(self, path: str | os.PathLike[str], rec: Recording | None = None) -> None:
        """Write :meth:`to_svg` to ``path`` (through a temporary file renamed over it)."""
        write_atomically(Path(path), self.to_svg(rec))


def _nice_step(total: float, target: int = 8) -> float:
    raw = total / target
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0):
        if m * mag >= raw:
            return m * mag
    return 10.0 * mag


def _unit(total: float) -> tuple[float, str]:
    if total >= 1:
        return 1.0, "s"
    if total >= 1e-3:
        return 1e3, "ms"
    return 1e6, "µs"


def _fmt(seconds: float, scale: float, unit: str, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step * scale) + 1e-9))
    if step * scale * 10**decimals % 1:  # 2.5 steps need one more digit
        decimals += 1
    return f"{seconds * scale:.{decimals}f} {unit}"


def _duration(seconds: float) -> str:
    if seconds >= 60:
        m, s = divmod(seconds, 60)
        return f"{int(m)} min {s:.0f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _tooltip(r: AttemptRecord, total: float) -> str:
    end = total if r.end is None else r.end
    lines = [
        f"{r.label} · attempt {r.attempt} · {_STYLE[r.status][2]}",
        f"{_duration(r.start)} → {_duration(end)} ({_duration(end - r.start)})",
    ]
    if r.error:
        lines.append(r.error)
    if r.overran is not None:
        lines.append(f"overran its cancellation at {_duration(r.overran[0])} ({r.overran[1]})")
    return "\n".join(lines)


def _text_width(text: str, size: float) -> float:
    """About how wide ``text`` is in a sans-serif font of ``size`` px (no font metrics here)."""
    em = 0.0
    for c in text:
        if c in _NARROW:
            em += 0.3
        elif c in _WIDE:
            em += 0.85
        elif c.isupper() or c.isdigit():
            em += 0.64
        else:
            em += 0.56
    return em * size


def _fit(label: str, room: float, size: float = 11.0) -> str | None:
    """``label``, or its start and an ellipsis, if that fits in ``room`` px; else ``None``."""
    room -= 9  # padding on both sides
    if _text_width(label, size) <= room:
        return label
    for n in range(len(label) - 1, 2, -1):
        text = label[:n] + "…"
        if _text_width(text, size) <= room:
            return text
    return None


def render_svg(rec: Recording, width: int = 1000) -> str:
    """Draw ``rec`` as a self-contained SVG Gantt chart (see :class:`Timeline`)."""
    lanes = max(rec.lanes, 1)
    lane_h = 26.0 if lanes <= 20 else max(3.0, 520.0 / lanes)
    bar_h = lane_h - 6 if lane_h >= 14 else max(lane_h - 1, 2.0)
    plot_w = width - _LEFT - _RIGHT
    plot_h = lanes * lane_h
    axis_y = _TOP + plot_h
    height = axis_y + 44
    total = rec.duration if rec.duration > 0 else 1.0
    step = _nice_step(total)
    scale, unit = _unit(total)

    def x_of(t: float) -> float:
        return _LEFT + t / total * plot_w

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" '
        f'viewBox="0 0 {width} {height:.0f}" font-family={quoteattr(_FONT)} font-size="12">',
        "<title>" + escape(f"{rec.dag} run {rec.run_id}: timeline") + "</title>",
        "<defs>"
        '<pattern id="cancelled" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#dde2e8"/>'
        '<rect width="2" height="6" fill="#b3bcc8"/></pattern>'
        "</defs>",
        f'<rect width="{width}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    # title and summary
    counts = {s: 0 for s in AttemptStatus}
    for r in rec.records:
        counts[r.status] += 1
    out.append(
        f'<text x="{_LEFT}" y="24" font-size="15" fill="#111827"><tspan font-weight="bold">'
        f"{escape(rec.dag)}</tspan>"
        f'<tspan fill="#4b5563"> · run {escape(rec.run_id)} · {escape(rec.status)} '
        f"in {_duration(rec.duration)}</tspan></text>"
    )
    summary = f"{len(rec.records)} attempts on {rec.lanes} lane{'s' * (rec.lanes != 1)}"
    dropped = sum(rec.elements_not_recorded.values())
    if dropped:
        summary += f" · {dropped} map elements not drawn"
    out.append(
        f'<text x="{width - _RIGHT}" y="24" text-anchor="end" fill="#4b5563">'
        f"{escape(summary)}</text>"
    )
    # legend
    lx = _LEFT
    shown = [s for s in _STYLE if s is not AttemptStatus.RUNNING or counts[s]]
    for s in shown:
        fill, _, name = _STYLE[s]
        out.append(
            f'<rect x="{lx:.1f}" y="38" width="14" height="14" rx="3" fill="{fill}"/>'
            f'<text x="{lx + 19:.1f}" y="49.5" fill="#374151">{escape(name)}</text>'
        )
        lx += 19 + _text_width(name, 12) + 24
    # lanes, grid and axis
    label_every = 1 if lane_h >= 13 else math.ceil(13 / lane_h)
    for lane in range(lanes):
        y = _TOP + lane * lane_h
        if lane % 2:
            out.append(
                f'<rect x="{_LEFT}" y="{y:.2f}" width="{plot_w:.2f}" height="{lane_h:.2f}" '
                'fill="#f5f6f8"/>'
            )
        if lane % label_every == 0:
            out.append(
                f'<text x="{_LEFT - 8}" y="{y + lane_h / 2 + 4:.2f}" text-anchor="end" '
                f'font-size="11" fill="#6b7280">slot {lane + 1}</text>'
            )
    k = 0
    while k * step <= total * (1 + 1e-9):
        t = k * step
        x = x_of(t)
        out.append(
            f'<line x1="{x:.2f}" y1="{_TOP}" x2="{x:.2f}" y2="{axis_y + 5:.2f}" '
            f'stroke="{"#9ca3af" if k == 0 else "#e5e7eb"}" stroke-width="1"/>'
            f'<text x="{x:.2f}" y="{axis_y + 19:.2f}" text-anchor="middle" font-size="11" '
            f'fill="#4b5563">{escape(_fmt(t, scale, unit, step))}</text>'
        )
        k += 1
    out.append(
        f'<line x1="{_LEFT}" y1="{axis_y:.2f}" x2="{_LEFT + plot_w:.2f}" y2="{axis_y:.2f}" '
        'stroke="#9ca3af" stroke-width="1"/>'
        f'<text x="{_LEFT + plot_w:.2f}" y="{axis_y + 36:.2f}" text-anchor="end" '
        'font-size="11" fill="#6b7280">time since the run started</text>'
    )
    # bars
    for r in rec.records:
        end = rec.duration if r.end is None else r.end
        x = x_of(r.start)
        w = max((end - r.start) / total * plot_w, 1.5)
        y = _TOP + r.lane * lane_h + (lane_h - bar_h) / 2
        fill, ink, _ = _STYLE[r.status]
        out.append(
            f'<g class="attempt {r.status.value}">'
            f'<rect class="bar" x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{bar_h:.2f}" '
            f'rx="{min(3.0, bar_h / 3):.1f}" fill="{fill}" stroke="#ffffff" stroke-width="1">'
            f"<title>{escape(_tooltip(r, rec.duration))}</title></rect>"
        )
        if r.overran is not None:  # a mark where the cancellation was not obeyed
            mx = x_of(r.overran[0])
            out.append(
                f'<line class="overran" x1="{mx:.2f}" y1="{y:.2f}" x2="{mx:.2f}" '
                f'y2="{y + bar_h:.2f}" stroke="#7c2d12" stroke-width="2"/>'
            )
        text = _fit(r.label if r.attempt == 1 else f"{r.label} #{r.attempt}", w)
        if text is not None and bar_h >= 11:
            out.append(
                f'<text x="{x + 5:.2f}" y="{y + bar_h / 2 + 4:.2f}" font-size="11" '
                f'fill="{ink}" pointer-events="none">{escape(text)}</text>'
            )
        out.append("</g>")
    if not rec.records:
        out.append(
            f'<text x="{_LEFT + plot_w / 2:.2f}" y="{_TOP + plot_h / 2 + 4:.2f}" '
            'text-anchor="middle" fill="#6b7280">no attempts recorded</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
