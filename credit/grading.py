"""The credit grade A/B/C/D from the scorecard (scorecard.yaml), with one explanation line
per contributing event; the lines always sum to the score."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from credit.catalog import Scorecard
from credit.rules import Assessment


@dataclass(frozen=True, slots=True)
class ExplanationLine:
    points: float
    reason: str
    event_uid: str | None = None
    event_type: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Grade:
    grade: str
    score: float
    as_of: dt.date
    scorecard: str
    lines: tuple[ExplanationLine, ...] = field(default_factory=tuple)
    direct_d: tuple[str, ...] = ()  # event uids that force D

    def as_dict(self) -> dict[str, Any]:
        return {
            "grade": self.grade,
            "score": self.score,
            "as_of": self.as_of.isoformat(),
            "scorecard": self.scorecard,
            "lines": [line.as_dict() for line in self.lines],
            "direct_d": list(self.direct_d),
        }

    @property
    def digest(self) -> str:
        """Identifies the inputs that made this grade (to store history only on change)."""
        text = "|".join(f"{line.event_uid}:{line.points}" for line in self.lines)
        return hashlib.sha1(f"{self.scorecard}|{self.grade}|{text}".encode()).hexdigest()[:16]


def recency_factor(card: Scorecard, decided: dt.date, day: dt.date) -> tuple[float, str]:
    for within, factor in card.recency:
        if day < within.after(decided):
            return factor, f"within {within}"
    return 0.0, "older than every recency band"


def grade(card: Scorecard, assessments: list[Assessment], day: dt.date) -> Grade:
    """Score = base + the points of every active decision; the grade is the band reached, or D
    when an active event of a ``direct_d`` type exists. Events of one type with one
    ``decision_no`` are one decision (delivered again under another record id, or by a second
    department): it counts once, by its first record (date, then uid)."""
    lines = [ExplanationLine(card.base, f"base score (scorecard {card.version})")]
    direct: list[str] = []
    counted: set[tuple[str, str]] = set()
    for a in sorted(assessments, key=lambda a: (a.event.date or day, a.event.uid)):
        if a.status != "active" or a.type is None or a.event.date is None:
            continue
        ev = a.event
        if ev.decision_no:
            if (a.type.key, ev.decision_no) in counted:
                continue
            counted.add((a.type.key, ev.decision_no))
        assert ev.date is not None
        label = f"{a.type.key} {ev.decision_no or ev.record_id} ({ev.dept}, {ev.date})"
        if a.type.key in card.direct_d:
            direct.append(ev.uid)
        if a.type.key in card.bonuses:
            pts = card.bonuses[a.type.key]
            lines.append(ExplanationLine(pts, f"+{pts:g} {label}", ev.uid, a.type.key))
            continue
        if a.severity is None or a.type.category in ("licence", "red", "repair"):
            continue
        factor, band = recency_factor(card, ev.date, day)
        pts = round(-card.deductions.get(a.severity, 0.0) * factor, 2)
        if pts == 0:
            continue
        lines.append(
            ExplanationLine(
                pts, f"{pts:g} {label}: {a.severity} × {factor:g} ({band})", ev.uid, a.type.key
            )
        )
    score = round(sum(line.points for line in lines), 2)
    g = card.grades[-1].grade if direct else card.grade_of(score)
    if direct:
        lines.append(
            ExplanationLine(
                0.0,
                f"grade {g} regardless of score: active {', '.join(sorted({x.event_type or '' for x in lines if x.event_uid in direct}))}",
            )
        )
    return Grade(g, score, day, card.version, tuple(lines), tuple(direct))
