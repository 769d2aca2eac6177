"""What the catalogs mean for one event on one day: its status (active / expired / repaired),
the rule that decided it, its listing period, who may see it, and who a list measure reaches.

Pure functions over plain records: no graph here (see :mod:`credit.queries`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from credit.catalog import SEVERITIES, Catalog, EventType, ListType, Measure, RepairRule

#: Relationship types whose holders are legal representatives (the role names are in lists.yaml).
LEGAL_REP = "LEGAL_REP_OF"


@dataclass(frozen=True, slots=True)
class Event:
    """A credit event as stored in the graph (a CreditEvent node and its subject)."""

    uid: str
    event_type: str
    dept: str
    record_id: str
    decision_no: str | None
    date: dt.date | None
    severity: str | None = None
    authority: str | None = None
    amount: float | None = None
    description: str | None = None
    subject_uid: str = ""
    subject_label: str = "Enterprise"
    subject_name: str | None = None


@dataclass(frozen=True, slots=True)
class Assessment:
    """An event judged on a day."""

    event: Event
    type: EventType | None
    status: str  # active | expired | repaired | pending | undated | unknown_type
    rule: str  # the rule that decided the status / period, in words
    severity: str | None
    until: dt.date | None  # first day no longer listed / published (None: no end)
    repaired_on: dt.date | None
    public: bool
    shared: bool

    @property
    def list_type(self) -> str | None:
        return self.type.list_type if self.type else None

    def listed_on(self, day: dt.date) -> bool:
        """Does this event put its subject on its list on ``day``?"""
        if self.type is None or self.type.list_type is None or self.event.date is None:
            return False
        return self.event.date <= day and (self.until is None or day < self.until)


@dataclass(frozen=True, slots=True)
class Role:
    """A person's role in an enterprise, as the graph carries it (start/end may be unknown)."""

    person_uid: str
    person_name: str | None
    enterprise_uid: str
    rel: str  # LEGAL_REP_OF | SERVES_AS
    role: str | None
    start: dt.date | None
    end: dt.date | None

    def held_on(self, day: dt.date) -> bool:
        """Did the person hold the role on ``day``? (end = last day in office)"""
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


def parse_date(value: object) -> dt.date | None:
    """An ISO date from the graph (partial or bad dates are None: they are not evidence)."""
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def severity_of(event: Event, et: EventType | None) -> str | None:
    """The record's own class when it names one, else the event type's; None for types that
    are not failing-credit information (licences, red lists: no repair-rule periods)."""
    if et is not None and et.severity is None:
        return None
    if event.severity in SEVERITIES:
        return event.severity
    return et.severity if et else None


def rule_at(catalog: Catalog, day: dt.date) -> RepairRule:
    """The repair rule in force on ``day``; decisions before the first rule take its periods."""
    return catalog.rule_on(day) or catalog.repair_rules[0]


def _end(
    catalog: Catalog, et: EventType, cls: str | None, decided: dt.date
) -> tuple[dt.date | None, str, bool]:
    """(end of publicity/listing, the rule in words, published?) for a decision."""
    rule = rule_at(catalog, decided)
    rc = rule.classes.get(cls) if cls else None
    published = rc.published if rc else True
    end: dt.date | None
    if et.list_type and et.period is not None:
        end = et.period.after(decided)
        why = f"{et.key} listing period {et.period}" + (f" ({et.basis})" if et.basis else "")
        if rc is not None and rule.key == catalog.transitional.new_rule:
            cap = rc.maximum.after(decided)
            if cap < end:
                end, why = cap, f"{rule.key}: {cls} maximum {rc.maximum}"
    elif et.publicity == "rule" and rc is not None:
        end, why = rc.maximum.after(decided), f"{rule.key}: {cls} maximum {rc.maximum}"
    elif et.publicity_period is not None:
        end = et.publicity_period.after(decided)
        why = f"{et.key} publicity {et.publicity}"
    else:
        return None, f"{et.key}: no end of publicity", published
    new = catalog.rule(catalog.transitional.new_rule)
    if (
        catalog.transitional.shorter_maximum_applies
        and decided < new.effective_from
        and cls is not None
        and end is not None
    ):
        shorter = max(new.classes[cls].maximum.after(decided), new.effective_from)
        if shorter < end:
            end = shorter
            why = f"transitional rule: {new.key} {cls} maximum {new.classes[cls].maximum}, not before {new.effective_from}"
    return end, why, published


def assess(
    catalog: Catalog, event: Event, day: dt.date, repaired_on: dt.date | None = None
) -> Assessment:
    """The event's status on ``day`` and the rule that decided it."""
    et = catalog.event_type(event.event_type)
    cls = severity_of(event, et)
    if et is None:
        return Assessment(
            event,
            None,
            "unknown_type",
            f"event type {event.event_type!r} not in the catalog",
            cls,
            None,
            None,
            False,
            True,
        )
    decided = event.date
    if decided is None:
        return Assessment(
            event,
            et,
            "undated",
            "no usable decision date: not evaluated",
            cls,
            None,
            None,
            False,
            True,
        )
    if decided > day:
        return Assessment(
            event, et, "pending", f"decided {decided}, after {day}", cls, None, None, False, False
        )
    end, why, published = _end(catalog, et, cls, decided)
    public_type = et.disclosure == "public" and published
    repair: dt.date | None = None
    if repaired_on is not None and repaired_on >= decided:
        rc_rule = rule_at(catalog, decided)
        rc = rc_rule.classes.get(cls) if cls else None
        earliest = rc.minimum.after(decided) if (rc and et.category == "penalty") else decided
        if repaired_on >= earliest and (end is None or repaired_on < end):
            repair = repaired_on
    if repair is not None:
        effects_rule = (
            rule_at(catalog, repair)
            if catalog.transitional.repair_effects == "new_rule"
            else rule_at(catalog, decided)
        )
        effects = effects_rule.on_repair
        until = repair if "joint_measures" in effects or not et.list_type else end
        if repair <= day:
            stops = ", ".join(sorted(effects))
            return Assessment(
                event,
                et,
                "repaired",
                f"repaired on {repair} ({effects_rule.key}: stops {stops})",
                cls,
                until,
                repair,
                False,
                "sharing" not in effects,
            )
        end = until
    if end is not None and end <= day:
        return Assessment(
            event, et, "expired", f"ended {end}: {why}", cls, end, repair, False, False
        )
    return Assessment(event, et, "active", why, cls, end, repair, public_type, True)


def responsible(list_type: ListType, role: Role) -> bool:
    """Is the role one through which the list's measures reach a person?"""
    name = role.role or ("法定代表人" if role.rel == LEGAL_REP else "")
    return name in list_type.responsible


def measures_on(
    catalog: Catalog, a: Assessment, subject_label: str
) -> list[tuple[ListType, Measure]]:
    """The list measures that apply directly to the event's subject."""
    if a.type is None or a.type.list_type is None:
        return []
    lt = catalog.lists[a.type.list_type]
    subject = "person" if subject_label == "Person" else "enterprise"
    return [(lt, m) for m in lt.measures if subject in m.subjects]


def extended_measures(catalog: Catalog, a: Assessment) -> list[tuple[ListType, Measure]]:
    """The list measures that extend to the listed enterprise's responsible persons."""
    if a.type is None or a.type.list_type is None:
        return []
    lt = catalog.lists[a.type.list_type]
    return [(lt, m) for m in lt.measures if m.extends and "person" in m.subjects]
