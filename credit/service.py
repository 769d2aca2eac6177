"""Credit services for the CLI and the API: profile, grade, joint-supervision lists and the
procurement check, over the sync ``GraphStore`` and (``…_async``) the async one.

Each service is written once as a generator that yields ``(query, params)`` and receives the
rows; :func:`_drive` runs it on a sync store and :func:`_drive_async` on an async one, so
both variants run the same code."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from credit import queries as q
from credit.catalog import Catalog, default_catalog
from credit.grading import Grade, grade
from credit.rules import Assessment, Event, Role, assess, parse_date, responsible
from graph.dialect import label
from graph.store import AsyncGraphStore, GraphStore, Row
from graph.tables import NodeTable, RelTable

if TYPE_CHECKING:
    # imported where used: matching reads pypinyin's tables (~0.3 s), which a load's
    # grading does not need
    from credit.matching import CheckIndex, Match

T = TypeVar("T")
Plan = Generator[tuple[str, dict[str, Any]], list[Row], T]
LIFECYCLES = ("active", "merged", "retired")


class CreditError(LookupError):
    """A key that names no entity, or names several."""


# -- results -------------------------------------------------------------------------------
def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


@dataclass(frozen=True, slots=True)
class EventView:
    uid: str
    event_type: str
    category: str | None
    dept: str
    record_id: str
    decision_no: str | None
    authority: str | None
    date: dt.date | None
    severity: str | None
    status: str
    rule: str
    until: dt.date | None
    repaired_on: dt.date | None
    public: bool
    shared: bool
    list_type: str | None
    amount: float | None
    description: str | None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("date", "until", "repaired_on"):
            d[k] = _iso(d[k])
        return d


@dataclass(frozen=True, slots=True)
class Membership:
    """An entity on a list through one basis event (directly, or via a role)."""

    list_type: str
    kind: str  # punishment | incentive
    issuer: str
    basis_event: str
    basis_decision: str | None
    start: dt.date
    until: dt.date | None
    via: str | None  # e.g. "法定代表人 of E… (2019-03-01 – )" for persons reached by a role
    measures: tuple[tuple[str, str], ...]  # (dept, measure)

    def as_dict(self) -> dict[str, Any]:
        return {
            "list_type": self.list_type,
            "kind": self.kind,
            "issuer": self.issuer,
            "basis_event": self.basis_event,
            "basis_decision": self.basis_decision,
            "from": _iso(self.start),
            "until": _iso(self.until),
            "via": self.via,
            "measures": [{"dept": d, "measure": m} for d, m in self.measures],
        }


@dataclass(frozen=True, slots=True)
class Relation:
    kind: str  # legal_rep | officer | shareholder | branch | parent | role
    uid: str
    name: str | None
    role: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    ratio: float | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["start"], d["end"] = _iso(self.start), _iso(self.end)
        return d


@dataclass(frozen=True, slots=True)
class CreditProfile:
    entity_id: str
    entity_type: str  # Enterprise | Person
    name: str | None
    as_of: dt.date
    registration: dict[str, Any]
    events: tuple[EventView, ...]
    lists: tuple[Membership, ...]
    relations: tuple[Relation, ...]
    grade: Grade | None
    restricted: bool  # a person's profile: no identifiers, no restricted events
    redirected_from: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity_id": self.entity_id,
            "entity_type": self.entity_type,
            "name": self.name,
            "as_of": self.as_of.isoformat(),
            "registration": self.registration,
            "events": [e.as_dict() for e in self.events],
            "lists": [m.as_dict() for m in self.lists],
            "relations": [r.as_dict() for r in self.relations],
            "grade": self.grade.as_dict() if self.grade else None,
            "restricted": self.restricted,
            "redirected_from": self.redirected_from,
        }


@dataclass(frozen=True, slots=True)
class SupervisionEntry:
    """One line of a department's joint-supervision list."""

    dept: str
    entity_id: str
    entity_type: str
    name: str | None
    list_type: str
    kind: str
    measure: str
    basis_events: tuple[str, ...]
    basis_decisions: tuple[str, ...]
    start: dt.date
    until: dt.date | None
    via: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "dept": self.dept,
            "entity_id": self.entity_id,
            "entity_type": self.entity_type,
            "name": self.name,
            "list_type": self.list_type,
            "kind": self.kind,
            "measure": self.measure,
            "basis_events": list(self.basis_events),
            "basis_decisions": list(self.basis_decisions),
            "from": _iso(self.start),
            "until": _iso(self.until),
            "via": self.via,
        }


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One input line of a procurement/bidding check."""

    line: int
    input: str
    entity_id: str | None
    name: str | None
    match: str  # exact | probable | ambiguous | none
    hit: bool
    list_types: tuple[str, ...] = ()
    measures: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("list_types", "measures", "candidates"):
            d[k] = list(d[k])
        return d


@dataclass(frozen=True, slots=True)
class GradeResult:
    entity_id: str
    current: Grade
    history: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity_id": self.entity_id,
            "current": self.current.as_dict(),
            "history": list(self.history),
        }


# -- drivers -------------------------------------------------------------------------------
def _drive(plan: Plan[T], store: GraphStore) -> T:
    try:
        query, params = next(plan)
        while True:
            query, params = plan.send(store.read(query, params))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def _drive_async(plan: Plan[T], store: AsyncGraphStore) -> T:
    try:
        query, params = next(plan)
        while True:
            query, params = plan.send(await store.read(query, params))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


# -- building blocks -----------------------------------------------------------------------
def _event(
    row: Row, subject_uid: str, subject_label: str, subject_name: str | None = None
) -> Event:
    amount = row.get("amount")
    return Event(
        uid=row["uid"],
        event_type=row.get("event_type") or "",
        dept=row.get("dept") or "",
        record_id=row.get("record_id") or "",
        decision_no=row.get("decision_no"),
        date=parse_date(row.get("date")),
        severity=row.get("severity"),
        authority=row.get("authority"),
        amount=float(amount) if isinstance(amount, (int, float)) else None,
        description=row.get("description"),
        subject_uid=subject_uid,
        subject_label=subject_label,
        subject_name=subject_name,
    )


def _repair_types(catalog: Catalog) -> list[str]:
    return [
        n
        for et in catalog.event_types.values()
        if et.category == "repair"
        for n in (et.key, *et.aliases)
    ]


def _assess_all(catalog: Catalog, events: Iterable[Event], day: dt.date) -> list[Assessment]:
    """Assess events with the repairs among them applied (a repair names the decision it
    repairs in its ``decision_no``; the earliest repair of a subject's decision counts)."""
    events = list(events)
    repairs: dict[tuple[str, str], dt.date] = {}
    others = []
    for ev in events:
        et = catalog.event_type(ev.event_type)
        if et is not None and et.category == "repair":
            if ev.decision_no and ev.date and ev.date <= day:
                k = (ev.subject_uid, ev.decision_no)
                repairs[k] = min(ev.date, repairs.get(k, ev.date))
        else:
            others.append(ev)
    return [
        assess(catalog, ev, day, repairs.get((ev.subject_uid, ev.decision_no or "")))
        for ev in others
    ]


def _view(a: Assessment) -> EventView:
    ev = a.event
    return EventView(
        uid=ev.uid,
        event_type=ev.event_type,
        category=a.type.category if a.type else None,
        dept=ev.dept,
        record_id=ev.record_id,
        decision_no=ev.decision_no,
        authority=ev.authority,
        date=ev.date,
        severity=a.severity,
        status=a.status,
        rule=a.rule,
        until=a.until,
        repaired_on=a.repaired_on,
        public=a.public,
        shared=a.shared,
        list_type=a.list_type,
        amount=ev.amount,
        description=ev.description,
    )


def _role(row: Row) -> Role:
    return Role(
        person_uid=row["person_uid"],
        person_name=row.get("person_name"),
        enterprise_uid=row["enterprise_uid"],
        rel=row["rel"],
        role=row.get("role"),
        start=parse_date(row.get("start")),
        end=parse_date(row.get("end")),
    )


def _term(r: Role) -> str:
    return f"{r.start or '?'} – {r.end or ''}".rstrip()


@dataclass(frozen=True, slots=True)
class _Reach:
    """Who a list event reaches and with which measures."""

    entity_id: str
    entity_type: str
    name: str | None
    membership: Membership


def _reaches(
    catalog: Catalog,
    assessments: list[Assessment],
    roles: dict[str, list[Role]],
    day: dt.date,
    dept: str | None = None,
) -> list[_Reach]:
    """Memberships on ``day`` of the events' subjects and, for measures that extend, of the
    persons who held a responsible role on the event's date."""
    out: list[_Reach] = []
    for a in assessments:
        if not a.listed_on(day) or a.type is None or a.type.list_type is None:
            continue
        ev = a.event
        assert ev.date is not None
        lt = catalog.lists[a.type.list_type]
        subject = "person" if ev.subject_label == "Person" else "enterprise"
        direct = tuple(
            (m.dept, m.measure)
            for m in lt.measures
            if subject in m.subjects and (dept is None or m.dept == dept)
        )
        if direct:
            out.append(
                _Reach(
                    ev.subject_uid,
                    ev.subject_label,
                    ev.subject_name,
                    Membership(
                        lt.key,
                        lt.kind,
                        lt.issuer,
                        ev.uid,
                        ev.decision_no,
                        ev.date,
                        a.until,
                        None,
                        direct,
                    ),
                )
            )
        if subject != "enterprise":
            continue
        extended = tuple(
            (m.dept, m.measure)
            for m in lt.measures
            if m.extends and "person" in m.subjects and (dept is None or m.dept == dept)
        )
        if not extended:
            continue
        for r in roles.get(ev.subject_uid, []):
            if not responsible(lt, r) or not r.held_on(ev.date):
                continue
            via = f"{r.role or '法定代表人'} of {ev.subject_uid} {ev.subject_name or ''} ({_term(r)})".replace(
                "  ", " "
            )
            out.append(
                _Reach(
                    r.person_uid,
                    "Person",
                    r.person_name,
                    Membership(
                        lt.key,
                        lt.kind,
                        lt.issuer,
                        ev.uid,
                        ev.decision_no,
                        ev.date,
                        a.until,
                        via,
                        extended,
                    ),
                )
            )
    return out


def _list_event_types(catalog: Catalog, dept: str | None) -> list[str]:
    wanted = {
        lt.key
        for lt in catalog.lists.values()
        if dept is None or any(m.dept == dept for m in lt.measures)
    }
    return [
        n
        for et in catalog.event_types.values()
        if et.list_type in wanted
        for n in (et.key, *et.aliases)
    ]


# -- key resolution ------------------------------------------------------------------------
_PERSONAL_KINDS = ("resident_id", "id15", "hmt_permit", "foreign_permanent_resident")


def _shown(key: str) -> str:
    """The key for a message: what may be a personal ID number is masked, never echoed."""
    from resolver.standardize.identifiers import classify_identifier, normalise_identifier
    from resolver.standardize.records import mask_identifier

    norm = normalise_identifier(key) or ""
    found = classify_identifier(norm) if norm else None
    personal = found is not None and found.kind in _PERSONAL_KINDS
    return mask_identifier(norm) if personal or norm[:17].isdigit() else key


def _resolve_plan(key: str) -> Plan[tuple[str, str, Row, str | None]]:
    """(label, uid, node properties, redirected-from) for a golden ID, USCC or exact name."""
    from resolver.standardize.identifiers import check_uscc, normalise_identifier

    key = key.strip()
    candidates: list[tuple[str, str]] = []
    if key[:1] in ("E", "P") and key[1:].isalnum() and key.isascii():
        candidates.append(("Enterprise" if key[0] == "E" else "Person", key))
    else:
        norm = normalise_identifier(key) or ""
        if len(norm) == 18 and check_uscc(norm).valid:
            rows = yield q.ENTERPRISE_BY_USCC, {"uscc": norm}
            candidates += [("Enterprise", r["uid"]) for r in rows]
        if not candidates:
            from resolver.standardize.names import canonical_enterprise_name

            for name in dict.fromkeys((key, canonical_enterprise_name(key)[0])):
                rows = yield q.ENTERPRISE_BY_NAME, {"name": name}
                candidates += [("Enterprise", r["uid"]) for r in rows]
                if candidates:
                    break
            if not candidates:
                rows = yield q.PERSON_BY_NAME, {"name": key}
                candidates += [("Person", r["uid"]) for r in rows]
    candidates = list(dict.fromkeys(candidates))
    if not candidates:
        raise CreditError(f"{_shown(key)}: no enterprise or person with this ID, USCC or name")
    if len(candidates) > 1:
        raise CreditError(
            f"{key}: ambiguous, {len(candidates)} entities: "
            + ", ".join(uid for _, uid in candidates[:10])
            + " (use the golden ID)"
        )
    lab, uid = candidates[0]
    redirected = None
    for _ in range(50):
        rows = yield q.NODE.format(label=label(lab)), {"uid": uid}
        if not rows:
            raise CreditError(f"{key}: no {lab.lower()} with ID {uid}")
        props = rows[0]["n"]
        nxt = props.get("merged_into")
        if not nxt:
            return lab, uid, props, redirected
        redirected = redirected or uid
        uid = nxt
    raise CreditError(f"{key}: redirect chain too long")


def _registration(props: Row) -> dict[str, Any]:
    keep = (
        "uscc",
        "org_code",
        "reg_no",
        "legal_rep_name",
        "address",
        "established",
        "reg_capital",
        "industry",
        "former_name",
        "is_branch",
    )
    reg = {k: props[k] for k in keep if props.get(k) is not None}
    status = props.get("registration_status")
    if status is None and props.get("status") not in LIFECYCLES:
        status = props.get("status")
    reg["registration_status"] = status
    reg["lifecycle"] = props.get("lifecycle") or (
        props.get("status") if props.get("status") in LIFECYCLES else "active"
    )
    return reg


# -- services as plans ---------------------------------------------------------------------
def _profile_plan(
    catalog: Catalog, key: str, day: dt.date, include_restricted: bool
) -> Plan[CreditProfile]:
    lab, uid, props, redirected = yield from _resolve_plan(key)
    # One round trip for the whole neighbourhood: events, roles, shares, branches.
    near = yield q.NEIGHBOURHOOD.format(label=label(lab)), {"uid": uid}
    firm_events: dict[str, list[Row]] = {}
    firms = _firms_of(lab, near)
    if firms:
        firm_events = _by_subject((yield q.EVENTS_OF_MANY, {"uids": firms}))
    return _assemble(
        catalog, lab, uid, props, redirected, near, firm_events, day, include_restricted
    )


def _firms_of(lab: str, near: Iterable[Row]) -> list[str]:
    """The enterprises a person holds roles in (their events decide the person's lists)."""
    if lab != "Person":
        return []
    return sorted(
        {
            r["uid"]
            for r in near
            if r["rel"] in ("LEGAL_REP_OF", "SERVES_AS") and r["label"] == "Enterprise"
        }
    )


def _by_subject(rows: Iterable[Row], key: str = "subject_uid") -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        out[r[key]].append(r)
    return out


def _profiles_plan(
    catalog: Catalog, lab: str, uids: list[str], day: dt.date, include_restricted: bool
) -> Plan[dict[str, CreditProfile]]:
    """The profiles of many golden IDs of one label (redirects followed) in a bounded number
    of round trips whatever their number: the nodes with their neighbourhoods (one more per
    redirect hop), and for persons the events of the enterprises they hold roles in."""
    props_of: dict[str, Row] = {}
    near: dict[str, list[Row]] = {}
    asked: set[str] = set()
    current = {u: u for u in uids}
    redirected: dict[str, str] = {}
    for _ in range(50):
        need = sorted({c for c in current.values() if c not in asked})
        if need:
            asked.update(need)
            for r in (yield q.PROFILES_MANY.format(label=label(lab)), {"uids": need}):
                uid = r["n"]["uid"]
                props_of[uid] = r["n"]
                near[uid] = [m for m in r["near"] if m["rel"] is not None]
        moved = False
        for u, c in current.items():
            nxt = props_of.get(c, {}).get("merged_into")
            if nxt and nxt != c:
                redirected.setdefault(u, u)
                current[u] = str(nxt)
                moved = True
        if not moved:
            break
    live = sorted({c for c in current.values() if c in props_of})
    if not live:
        return {}
    firms = sorted({f for u in live for f in _firms_of(lab, near.get(u, []))})
    firm_events: dict[str, list[Row]] = {}
    if firms:
        firm_events = _by_subject((yield q.EVENTS_OF_MANY, {"uids": firms}))
    out: dict[str, CreditProfile] = {}
    for u, c in current.items():
        props = props_of.get(c)
        if props is None or props.get("merged_into"):
            continue
        out[u] = _assemble(
            catalog,
            lab,
            c,
            props,
            redirected.get(u),
            near.get(c, []),
            firm_events,
            day,
            include_restricted,
        )
    return out


def _assemble(
    catalog: Catalog,
    lab: str,
    uid: str,
    props: Row,
    redirected: str | None,
    near: list[Row],
    firm_events: dict[str, list[Row]],
    day: dt.date,
    include_restricted: bool,
) -> CreditProfile:
    """A profile from a node, its neighbourhood rows and (persons) its firms' event rows."""
    events = [
        _event(r, uid, lab, props.get("name"))
        for r in near
        if r["rel"] == "SUBJECT_OF" and r["label"] == "CreditEvent"
    ]
    assessments = _assess_all(catalog, events, day)
    relations: list[Relation] = []
    roles: list[Role] = []
    for r in near:
        if r["rel"] in ("LEGAL_REP_OF", "SERVES_AS") and r["label"] in ("Person", "Enterprise"):
            person = (uid, props.get("name")) if lab == "Person" else (r["uid"], r.get("name"))
            firm = r["uid"] if lab == "Person" else uid
            roles.append(
                Role(
                    person[0],
                    person[1],
                    firm,
                    r["rel"],
                    r.get("role"),
                    parse_date(r.get("start")),
                    parse_date(r.get("end")),
                )
            )
    names = {r["uid"]: r.get("name") for r in near}
    roles.sort(
        key=lambda x: (x.rel != "LEGAL_REP_OF", str(x.start), x.person_uid, x.enterprise_uid)
    )
    for ro in roles:
        if lab == "Enterprise":
            kind = "legal_rep" if ro.rel == "LEGAL_REP_OF" else "officer"
            relations.append(
                Relation(kind, ro.person_uid, ro.person_name, ro.role, ro.start, ro.end)
            )
        else:
            relations.append(
                Relation(
                    "role",
                    ro.enterprise_uid,
                    names.get(ro.enterprise_uid),
                    ro.role,
                    ro.start,
                    ro.end,
                )
            )
    for r in sorted(near, key=lambda r: (-(r.get("ratio") or 0), r["uid"])):
        ratio = r.get("ratio")
        share = float(ratio) if isinstance(ratio, (int, float)) else None
        if r["rel"] == "HOLDS_SHARES":
            kind = "investment" if r["outgoing"] else "shareholder"
            relations.append(Relation(kind, r["uid"], r.get("name"), r["label"], ratio=share))
        elif r["rel"] == "BRANCH_OF":
            relations.append(
                Relation("parent" if r["outgoing"] else "branch", r["uid"], r.get("name"))
            )
    if lab == "Enterprise":
        reaches = [
            x for x in _reaches(catalog, assessments, {uid: roles}, day) if x.entity_id == uid
        ]
        registration = _registration(props)
        g: Grade | None = grade(catalog.scorecard, assessments, day)
        restricted = False
    else:
        own = [x for x in _reaches(catalog, assessments, {}, day) if x.entity_id == uid]
        firms = sorted({r.enterprise_uid for r in roles})
        ent_assessments: list[Assessment] = []
        for firm in firms:
            evs = [
                _event(r, firm, "Enterprise", names.get(firm)) for r in firm_events.get(firm, [])
            ]
            if evs:
                ent_assessments += _assess_all(catalog, evs, day)
        by_ent: dict[str, list[Role]] = defaultdict(list)
        for ro in roles:
            by_ent[ro.enterprise_uid].append(ro)
        reaches = own + [
            x for x in _reaches(catalog, ent_assessments, by_ent, day) if x.entity_id == uid
        ]
        registration = {
            "id_masked": props.get("id_masked"),
            "lifecycle": props.get("lifecycle") or "active",
        }
        if not include_restricted:
            assessments = [
                a for a in assessments if a.type is None or a.type.disclosure != "restricted"
            ]
        g = None
        restricted = True
    views = tuple(
        sorted((_view(a) for a in assessments), key=lambda v: (v.date or day, v.uid), reverse=True)
    )
    return CreditProfile(
        entity_id=uid,
        entity_type=lab,
        name=props.get("name"),
        as_of=day,
        registration=registration,
        events=views,
        lists=tuple(x.membership for x in reaches),
        relations=tuple(relations),
        grade=g,
        restricted=restricted,
        redirected_from=redirected,
    )


def _lists_plan(catalog: Catalog, dept: str, day: dt.date) -> Plan[list[SupervisionEntry]]:
    if dept not in catalog.departments:
        raise CreditError(
            f"{dept if dept.isprintable() else repr(dept)}: unknown department code "
            f"(known: {', '.join(catalog.departments)})"
        )
    types = _list_event_types(catalog, dept)
    if not types:
        return []
    rows = yield q.EVENTS_OF_TYPES, {"types": types + _repair_types(catalog)}
    by_subject: dict[str, list[Event]] = defaultdict(list)
    for r in rows:
        by_subject[r["subject_uid"]].append(
            _event(r, r["subject_uid"], r["subject_label"], r.get("subject_name"))
        )
    assessments = [a for evs in by_subject.values() for a in _assess_all(catalog, evs, day)]
    listed = sorted(
        {
            a.event.subject_uid
            for a in assessments
            if a.listed_on(day) and a.event.subject_label == "Enterprise"
        }
    )
    roles: dict[str, list[Role]] = defaultdict(list)
    if listed:
        for r in (yield q.ROLES_IN, {"uids": listed}):
            role = _role(r)
            roles[role.enterprise_uid].append(role)
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for x in _reaches(catalog, assessments, roles, day, dept):
        m = x.membership
        for _d, measure in m.measures:
            k = (x.entity_id, m.list_type, measure)
            e = merged.setdefault(
                k,
                {
                    "x": x,
                    "events": [],
                    "decisions": [],
                    "start": m.start,
                    "until": m.until,
                    "via": [],
                },
            )
            e["events"].append(m.basis_event)
            if m.basis_decision:
                e["decisions"].append(m.basis_decision)
            e["start"] = min(e["start"], m.start)
            e["until"] = None if e["until"] is None or m.until is None else max(e["until"], m.until)
            if m.via:
                e["via"].append(m.via)
    out = []
    for (uid, lt_key, measure), e in merged.items():
        x = e["x"]
        lt = catalog.lists[lt_key]
        out.append(
            SupervisionEntry(
                dept,
                uid,
                x.entity_type,
                x.name,
                lt_key,
                lt.kind,
                measure,
                tuple(sorted(set(e["events"]))),
                tuple(sorted(set(e["decisions"]))),
                e["start"],
                e["until"],
                "; ".join(sorted(set(e["via"]))) or None,
            )
        )
    out.sort(key=lambda s: (s.kind, s.list_type, s.entity_type, s.entity_id, s.measure))
    return out


def _check_plan(
    catalog: Catalog, index: CheckIndex, inputs: list[str], day: dt.date
) -> Plan[list[CheckResult]]:
    matches: list[Match] = [index.match(text) for text in inputs]
    uids = sorted({m.entity_id for m in matches if m.entity_id})
    assessments_of: dict[str, list[Assessment]] = {}
    if uids:
        by_subject: dict[str, list[Event]] = defaultdict(list)
        # Filtering by type in Python: FalkorDB plans a WHERE on the event after UNWIND as a
        # scan of every event per ID (minutes on 100k enterprises).
        types = set(_list_event_types(catalog, None) + _repair_types(catalog))
        for r in (yield q.EVENTS_OF_MANY, {"uids": uids}):
            if r.get("event_type") in types:
                by_subject[r["subject_uid"]].append(_event(r, r["subject_uid"], "Enterprise"))
        assessments_of = {u: _assess_all(catalog, evs, day) for u, evs in by_subject.items()}
    out = []
    for i, (text, m) in enumerate(zip(inputs, matches, strict=True), start=1):
        list_types: list[str] = []
        measures: list[str] = []
        if m.entity_id:
            for x in _reaches(catalog, assessments_of.get(m.entity_id, []), {}, day):
                if x.entity_id != m.entity_id:
                    continue
                list_types.append(x.membership.list_type)
                measures += [f"{d}:{meas}" for d, meas in x.membership.measures]
        out.append(
            CheckResult(
                line=i,
                input=text,
                entity_id=m.entity_id,
                name=m.name,
                match=m.match,
                hit=any(catalog.lists[t].kind == "punishment" for t in list_types),
                list_types=tuple(dict.fromkeys(list_types)),
                measures=tuple(dict.fromkeys(measures)),
                candidates=m.candidates,
                note=m.note,
            )
        )
    return out


def _grade_plan(catalog: Catalog, key: str, day: dt.date) -> Plan[GradeResult]:
    lab, uid, _props, _red = yield from _resolve_plan(key)
    if lab != "Enterprise":
        raise CreditError(f"{key}: grades are for enterprises only")
    rows = yield q.EVENTS_OF.format(label=label(lab)), {"uid": uid}
    g = grade(
        catalog.scorecard, _assess_all(catalog, [_event(r, uid, lab) for r in rows], day), day
    )
    history = yield q.GRADE_HISTORY, {"uid": uid}
    return GradeResult(uid, g, tuple(history))


# -- public functions ----------------------------------------------------------------------
def _today(as_of: dt.date | None) -> dt.date:
    return as_of or dt.date.today()


def credit_profile(
    store: GraphStore,
    key: str,
    as_of: dt.date | None = None,
    *,
    include_restricted: bool = False,
    catalog: Catalog | None = None,
) -> CreditProfile:
    """The credit profile of an enterprise (or the restricted one of a person) on ``as_of``."""
    return _drive(
        _profile_plan(catalog or default_catalog(), key, _today(as_of), include_restricted), store
    )


async def credit_profile_async(
    store: AsyncGraphStore,
    key: str,
    as_of: dt.date | None = None,
    *,
    include_restricted: bool = False,
    catalog: Catalog | None = None,
) -> CreditProfile:
    return await _drive_async(
        _profile_plan(catalog or default_catalog(), key, _today(as_of), include_restricted), store
    )


def credit_profiles(
    store: GraphStore,
    uids: list[str],
    as_of: dt.date | None = None,
    *,
    label_of: str = "Enterprise",
    include_restricted: bool = False,
    catalog: Catalog | None = None,
) -> dict[str, CreditProfile]:
    """The profiles of many golden IDs of one label (``Enterprise`` or ``Person``), keyed by
    the ID asked for; IDs that name nothing are missing. A bounded number of graph queries
    whatever the number of IDs."""
    plan = _profiles_plan(
        catalog or default_catalog(), label_of, uids, _today(as_of), include_restricted
    )
    return _drive(plan, store)


async def credit_profiles_async(
    store: AsyncGraphStore,
    uids: list[str],
    as_of: dt.date | None = None,
    *,
    label_of: str = "Enterprise",
    include_restricted: bool = False,
    catalog: Catalog | None = None,
) -> dict[str, CreditProfile]:
    plan = _profiles_plan(
        catalog or default_catalog(), label_of, uids, _today(as_of), include_restricted
    )
    return await _drive_async(plan, store)


def credit_grade(
    store: GraphStore, key: str, as_of: dt.date | None = None, *, catalog: Catalog | None = None
) -> GradeResult:
    """An enterprise's grade with its explanation, and the grade history kept in the graph."""
    return _drive(_grade_plan(catalog or default_catalog(), key, _today(as_of)), store)


async def credit_grade_async(
    store: AsyncGraphStore,
    key: str,
    as_of: dt.date | None = None,
    *,
    catalog: Catalog | None = None,
) -> GradeResult:
    return await _drive_async(_grade_plan(catalog or default_catalog(), key, _today(as_of)), store)


def joint_supervision_list(
    store: GraphStore, dept: str, day: dt.date | None = None, *, catalog: Catalog | None = None
) -> list[SupervisionEntry]:
    """Every entity ``dept`` must apply measures to on ``day``, with measure, basis and period."""
    return _drive(_lists_plan(catalog or default_catalog(), dept, _today(day)), store)


async def joint_supervision_list_async(
    store: AsyncGraphStore, dept: str, day: dt.date | None = None, *, catalog: Catalog | None = None
) -> list[SupervisionEntry]:
    return await _drive_async(_lists_plan(catalog or default_catalog(), dept, _today(day)), store)


def credit_check(
    store: GraphStore,
    inputs: list[str],
    as_of: dt.date | None = None,
    *,
    index: CheckIndex | None = None,
    catalog: Catalog | None = None,
) -> list[CheckResult]:
    """Resolve each input (USCC or name) and report its list hits with their measures; the
    index of enterprises is built once per graph version (credit.check_index)."""
    from credit.check_index import CHECK_INDEXES

    idx = index or CHECK_INDEXES.get(store)
    return _drive(_check_plan(catalog or default_catalog(), idx, inputs, _today(as_of)), store)


async def credit_check_async(
    store: AsyncGraphStore,
    inputs: list[str],
    as_of: dt.date | None = None,
    *,
    index: CheckIndex | None = None,
    catalog: Catalog | None = None,
) -> list[CheckResult]:
    from credit.check_index import CHECK_INDEXES

    idx = index or await CHECK_INDEXES.get_async(store)
    return await _drive_async(
        _check_plan(catalog or default_catalog(), idx, inputs, _today(as_of)), store
    )


def refresh_grades(
    store: GraphStore,
    as_of: dt.date | None = None,
    *,
    uids: Iterable[str] | None = None,
    catalog: Catalog | None = None,
) -> tuple[int, int]:
    """Recompute the grade of every current enterprise (or of ``uids``: those a load
    changed); store a ``Grade`` node in its history when the grade's inputs changed since the
    last one. An enterprise without events stands at the scorecard's base grade (what
    ``credit_grade`` shows for it); with no grade in its history either, there is nothing to
    keep. Returns (graded, stored). Grades no enterprise holds (a bulk load killed half-way
    left them, see :func:`drop_unheld_grades`) are dropped first."""
    cat = catalog or default_catalog()
    day = _today(as_of)
    drop_unheld_grades(store)
    chosen = (
        [r["uid"] for r in store.read(q.CURRENT_ENTERPRISES)] if uids is None else sorted(set(uids))
    )
    computed_at = _computed_at()
    stored = 0
    for i in range(0, len(chosen), 500):
        chunk = chosen[i : i + 500]
        by_subject: dict[str, list[Row]] = defaultdict(list)
        for r in store.read(q.EVENTS_OF_MANY, {"uids": chunk}):
            by_subject[r["subject_uid"]].append(r)
        last: dict[str, tuple[str, str, str]] = {}
        for r in store.read(q.LAST_GRADES, {"uids": chunk}):
            key = (str(r["as_of"]), str(r["computed_at"]), str(r["digest"]))
            if r["uid"] not in last or key > last[r["uid"]]:
                last[r["uid"]] = key
        rows = _grade_rows(cat, day, computed_at, chunk, by_subject, last)
        if rows:
            store.write_batch(q.WRITE_GRADES, rows)
            stored += len(rows)
    return len(chosen), stored


def drop_unheld_grades(store: GraphStore) -> int:
    """Delete the ``Grade`` nodes no enterprise holds (no ``GRADED``; nothing reaches them):
    a bulk load killed after its Grade nodes and before its relationships leaves them (its
    reload grades again, on a later day under other uids), and so does an enterprise merged
    away (its relationships go). A fresh load of the same run has none. Two counts the graph
    keeps say whether there are any; only then are the grades scanned. Returns how many were
    deleted."""
    grades = store.read(q.GRADE_COUNT)[0]["n"]
    held = store.read(q.GRADED_COUNT)[0]["n"]
    if grades <= held:
        return 0
    store.run(q.DROP_UNHELD_GRADES[store.backend])
    return int(grades) - int(store.read(q.GRADE_COUNT)[0]["n"])


def grades_of_new_graph(
    events: Mapping[str, Sequence[Row]],
    as_of: dt.date | None = None,
    *,
    catalog: Catalog | None = None,
) -> tuple[NodeTable, RelTable]:
    """What :func:`refresh_grades` would write after a run is loaded into an empty graph
    (no grade history), computed from the run's own tables instead of read back: ``events``
    are the credit events each enterprise will have (graph/load.py
    ``enterprise_credit_events``). Returns the ``Grade`` nodes and the ``GRADED``
    relationships as tables for the bulk path (the same properties and uids as
    :data:`credit.queries.WRITE_GRADES` writes)."""
    cat = catalog or default_catalog()
    rows = _grade_rows(cat, _today(as_of), _computed_at(), sorted(events), events, {})
    uids = [r["uid"] for r in rows]
    names = sorted({k for r in rows for k in r["props"]})
    cols = {"uid": uids, **{k: [r["props"].get(k) for r in rows] for k in names}}
    entities = [r["entity"] for r in rows]
    return NodeTable(uids, cols), RelTable(entities, uids, [1] * len(rows), {}, distinct=True)


def _computed_at() -> str:
    """When a grade was computed (the Grade's ``computed_at``): now, in UTC, to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _grade_rows(
    cat: Catalog,
    day: dt.date,
    computed_at: str,
    uids: Iterable[str],
    events: Mapping[str, Sequence[Row]],
    last: Mapping[str, tuple[str, str, str]],
) -> list[Row]:
    """:data:`credit.queries.WRITE_GRADES` rows for the ``uids`` whose grade on ``day``
    differs from their ``last`` (as_of, computed_at, digest); ``events``: each uid's credit
    event rows as :data:`credit.queries.EVENTS_OF_MANY` returns them."""
    rows = []
    on = day.isoformat()
    for uid in uids:
        prev = last.get(uid)
        mine = events.get(uid)
        if not mine and prev is None:
            continue  # at the base grade, never graded otherwise: no history to keep
        g = grade(
            cat.scorecard,
            _assess_all(cat, [_event(r, uid, "Enterprise") for r in mine or ()], day),
            day,
        )
        digest = g.digest  # (a property: a hash of the lines each time)
        if prev and prev[2] == digest and prev[0] <= on:
            continue
        rows.append(
            {
                "entity": uid,
                "uid": f"{uid}|{on}|{digest}",
                "props": {
                    "grade": g.grade,
                    "score": g.score,
                    "as_of": on,
                    "scorecard": g.scorecard,
                    "digest": digest,
                    "lines": [f"{line.points:+g} {line.reason}" for line in g.lines],
                    "computed_at": computed_at,
                },
            }
        )
    return rows
