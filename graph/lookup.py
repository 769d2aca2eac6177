"""Look-ups without Cypher: resolve a key to a golden entity and read its view.

A KEY is a golden ID (an old, merged ID follows its ``merged_into`` redirects), a USCC,
organisation code, registration number or personal ID number (standardised and checked with
:mod:`resolver.standardize.identifiers`; ID numbers are matched by their salted hash ``id_hash``, so the
salt of the resolution run is needed), a department record ``DEPT:RECORD_ID``, or a name
fragment (a short ranked list to pick from).

Each look-up is written once as a sequence of catalog queries (a generator that yields
``(query, params)`` and receives the rows), then driven by a synchronous store
(:func:`resolve_key`, :func:`entity_view`) or an asynchronous one (:func:`resolve_key_async`,
:func:`entity_view_async`) — the CLI and the API run the same steps.

Node properties read: ``lifecycle`` (active / merged / retired) and ``registration_status``
(存续, 吊销, 注销 …); graphs loaded before those existed carry one ``status`` property, read
as lifecycle when it holds a lifecycle word and as registration status otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from graph import queries
from graph.dialect import label
from graph.store import AsyncGraphStore, GraphStore, Row

T = TypeVar("T")
Query = tuple[str, dict[str, Any]]
Steps = Generator[Query, list[Row], T]

LIFECYCLES = frozenset({"active", "merged", "retired"})
EVENT_LABELS = ("CreditEvent", "Fact", "TaxDeclaration")
EVENT_KINDS = ("credit_event", "fact", "tax_declaration")
#: Golden IDs: registry IDs (``E000000123``) and content-derived ones (``E`` + base32).
GOLDEN_ID = re.compile(r"^[EP](?:[0-9]{9}|[A-Z2-7]{16})$")
_IDENTIFIER_SHAPE = re.compile(r"^[0-9A-Z]{9}$|^[0-9A-Z]{15}$|^[0-9A-Z]{17,20}$")
_PERSON_ID_KINDS = frozenset({"resident_id", "hmt_permit", "foreign_permanent_resident"})
_MAX_REDIRECTS = 100


class LookupFailed(Exception):
    """A look-up that cannot answer; the message says why, in one line."""


class BadKey(LookupFailed):
    """The key is malformed (e.g. an identifier whose check character is wrong)."""


class NotFound(LookupFailed):
    """Nothing in the graph matches the key."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One entity a key may mean (name search hits, several holders of an identifier)."""

    uid: str
    label: str
    name: str | None
    match: str  # exact, prefix, name, former name, identifier, "<kind> record"


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a key resolved to: one entity (``uid``), or candidates to pick from."""

    key: str
    key_kind: str  # golden_id, uscc, org_code, reg_no, id_number, record, name
    uid: str | None
    label: str | None
    redirects: tuple[str, ...] = ()  # the IDs followed, first the one asked for
    candidates: tuple[Candidate, ...] = ()
    total: int | None = None  # how many entities match in all, when more than listed


@dataclass(frozen=True, slots=True)
class MemberRecord:
    dept: str
    record_id: str
    batch_id: str | None
    decision: str | None
    score: float | None


@dataclass(frozen=True, slots=True)
class Related:
    """An entity at the other end of a role, shareholding or branch relationship."""

    rel: str
    label: str
    uid: str
    name: str | None
    role: str | None = None
    ratio: float | None = None
    amount: float | None = None
    start: str | None = None
    end: str | None = None
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Event:
    """A credit event, fact or tax declaration about the entity."""

    label: str
    uid: str
    kind: str | None  # event_type, fact_type or tax_type
    date: str | None
    dept: str | None
    record_id: str | None
    decision_no: str | None = None
    authority: str | None = None
    severity: str | None = None
    amount: float | None = None
    publicity_until: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class EntityView:
    """Everything the graph knows about one golden entity."""

    uid: str
    label: str
    name: str | None
    lifecycle: str | None
    registration_status: str | None
    facts: dict[str, Any]
    members: tuple[MemberRecord, ...]
    legal_reps: tuple[Related, ...]  # persons who are the enterprise's legal representative
    officers: tuple[Related, ...]  # SERVES_AS into the enterprise
    shareholders: tuple[Related, ...]  # HOLDS_SHARES into the enterprise
    holdings: tuple[Related, ...]  # HOLDS_SHARES out of this entity
    roles: tuple[Related, ...]  # LEGAL_REP_OF / SERVES_AS out of a person
    branches: tuple[Related, ...]  # BRANCH_OF into the enterprise
    parents: tuple[Related, ...]  # BRANCH_OF out of a branch
    events: tuple[Event, ...]  # credit events, newest first
    event_counts: dict[str, int]  # CreditEvent, Fact, TaxDeclaration -> count
    merged_from: tuple[str, ...]  # golden IDs merged into this one (transitively)
    redirects: tuple[str, ...] = ()  # the IDs followed when an old ID was asked for
    legal_rep_unlinked: str | None = None  # legal_rep_name with no LEGAL_REP_OF relationship
    member_limit_hit: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def members_by_dept(self) -> dict[str, list[MemberRecord]]:
        out: dict[str, list[MemberRecord]] = {}
        for m in self.members:
            out.setdefault(m.dept, []).append(m)
        return out


# -- property readers ---------------------------------------------------------------------
def lifecycle_of(props: dict[str, Any]) -> str | None:
    """The golden record's lifecycle (active / merged / retired)."""
    value = props.get("lifecycle")
    if value:
        return str(value)
    if props.get("merged_into"):
        return "merged"
    status = props.get("status")
    return str(status) if status in LIFECYCLES else None


def registration_status_of(props: dict[str, Any]) -> str | None:
    """The standardised registration status (存续, 吊销, 注销 …)."""
    value = props.get("registration_status")
    if value:
        return str(value)
    status = props.get("status")
    return str(status) if status and status not in LIFECYCLES else None


ENTERPRISE_FACTS = (
    "uscc",
    "org_code",
    "reg_no",
    "tax_id",
    "former_names",
    "legal_rep_name",
    "established",
    "reg_capital",
    "industry",
    "address",
    "phone",
    "is_branch",
    "members",
)


def _facts(lab: str, props: dict[str, Any]) -> dict[str, Any]:
    """Registration facts to show. A person's birth date is left out and the phone masked:
    next to the masked ID number (region prefix, sequence, check) even the birth year would
    narrow the number to a few hundred candidates."""
    if lab == "Enterprise":
        facts = {k: props[k] for k in ENTERPRISE_FACTS if props.get(k) not in (None, "", [])}
        if isinstance(facts.get("phone"), str) and _MOBILE.match(facts["phone"]):
            facts["phone"] = _mask_phone(facts["phone"])  # a mobile is a person's number
        return facts
    out: dict[str, Any] = {}
    for k in ("gender", "id_masked", "employer", "members"):
        if props.get(k) not in (None, ""):
            out[k] = props[k]
    if isinstance(props.get("phone"), str):
        out["phone"] = _mask_phone(props["phone"])
    return out


_MOBILE = re.compile(r"^\+861[3-9]\d{9}$")


def _mask_phone(phone: str) -> str:
    """``+86159****5456``: the last four digits stay, as on receipts."""
    return phone[:-8] + "****" + phone[-4:] if len(phone) >= 11 else "****"


def _label_of(uid: str) -> str:
    return "Person" if uid.startswith("P") else "Enterprise"


# -- steps --------------------------------------------------------------------------------
def _follow(lab: str, uid: str) -> Steps[tuple[str, dict[str, Any], tuple[str, ...]]]:
    """Follow ``merged_into`` from ``uid``: (current uid, its properties, the path)."""
    path = [uid]
    current = uid
    for _ in range(_MAX_REDIRECTS):
        rows = yield queries.NODE_BY_UID.format(label=label(lab)), {"uid": current}
        if not rows:
            if current == uid:
                raise NotFound(f"no {lab.lower()} {uid} in the graph")
            raise NotFound(f"{path[-2]} redirects to {current}, which is not in the graph")
        props = dict(rows[0]["props"] or {})
        target = props.get("merged_into")
        if not target or target == current:
            return current, props, tuple(path)
        current = str(target)
        path.append(current)
    raise NotFound(f"redirect loop from {uid}")


def _entities(key: str, kind: str, hits: list[tuple[str, str]]) -> Steps[Resolution]:
    """A resolution from (label, uid) hits: redirects followed, duplicates dropped."""
    found: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {}
    for lab, uid in hits:
        current, props, path = yield from _follow(lab, uid)
        found.setdefault(current, (lab, props, path))
    if len(found) == 1:
        (uid, (lab, _, path)), *_ = found.items()
        return Resolution(key, kind, uid, lab, path if len(path) > 1 else ())
    cands = tuple(
        Candidate(uid, lab, props.get("name"), "identifier")
        for uid, (lab, props, _) in sorted(found.items())
    )
    return Resolution(key, kind, None, None, (), cands)


def _identifier_steps(
    key: str, text: str, salt: str | None, limit: int
) -> Steps[Resolution] | None:
    """Steps for an identifier-shaped key, None when the key is not one."""
    from resolver.standardize import identifiers as ids

    value = ids.normalise_identifier(text)
    if value is None or not _IDENTIFIER_SHAPE.match(value):
        return None
    check = ids.classify_identifier(value)
    if check is None or check.kind == "unknown":
        return None
    if not check.valid:
        uscc = ids.check_uscc(value)
        if len(value) == 18 and uscc.reason not in ("bad_length", "bad_charset", "bad_format"):
            if check.kind in _PERSON_ID_KINDS:  # never echo what may be an ID number
                hint = (
                    f", expected check character {ids.uscc_check_char(value[:17])!r}"
                    if uscc.reason == "bad_check"
                    else ""
                )
                raise BadKey(
                    f"{_mask(value)} is neither a valid ID number ({check.reason}) nor a valid "
                    f"USCC ({uscc.reason}{hint}): check the key"
                )
            check = uscc  # USCC-shaped: say what is wrong with it as a USCC
        raise BadKey(_invalid_message(check))
    kind = check.kind
    if kind == "tax_id":
        form = check.details.get("form")
        if check.details.get("uscc"):
            kind, value = "uscc", check.details["uscc"]
        elif check.details.get("org_code"):
            kind, value = "org_code", check.details["org_code"]
        elif check.details.get("id_number"):
            kind, value = "resident_id", check.details["id_number"]
        elif form == "uscc":
            kind = "uscc"
        else:
            raise NotFound(f"tax number {value}: this form cannot be looked up in the graph")
    if kind == "id15":
        kind, value = "resident_id", ids.upgrade_id15(value)
    if kind in _PERSON_ID_KINDS:
        if salt is None:
            raise BadKey(
                "an ID number is matched by its salted hash: the salt of the resolution run "
                "is needed (pass the state the run was linked with)"
            )
        return _by_id_hash(key, value, salt, limit)
    if kind in ("uscc", "org_code", "reg_no"):
        return _by_enterprise_identifier(key, kind, value, limit)
    raise NotFound(f"{kind} {value}: this kind of identifier is not kept on graph nodes")


def _invalid_message(check: Any) -> str:
    from resolver.standardize import identifiers as ids

    names = {
        "uscc": "USCC",
        "org_code": "organisation code",
        "reg_no": "registration number",
        "resident_id": "ID number",
        "hmt_permit": "ID number",
        "foreign_permanent_resident": "ID number",
        "id15": "ID number",
        "tax_id": "tax number",
    }
    what = names.get(check.kind, check.kind)
    shown = check.value if what != "ID number" else _mask(check.value)
    hint = ""
    if check.kind == "uscc" and check.reason == "bad_check" and len(check.value) == 18:
        hint = f", expected check character {ids.uscc_check_char(check.value[:17])!r}"
    elif check.kind == "org_code" and check.reason == "bad_check":
        hint = f", expected check character {ids.org_code_check_char(check.value[:8])!r}"
    return f"{what} {shown} is not valid ({check.reason}{hint}): check the key"


def _mask(value: str) -> str:
    return value[:4] + "*" * max(len(value) - 8, 0) + value[-4:] if len(value) > 8 else "****"


def _by_enterprise_identifier(key: str, kind: str, value: str, limit: int) -> Steps[Resolution]:
    query = {
        "uscc": queries.ENTERPRISE_BY_USCC,
        "org_code": queries.ENTERPRISE_BY_ORG_CODE,
        "reg_no": queries.ENTERPRISE_BY_REG_NO,
    }[kind]
    rows = yield query, {"value": value, "limit": limit}
    if not rows and kind == "uscc":
        # The organisation code inside the USCC names the same organisation.
        rows = yield queries.ENTERPRISE_BY_ORG_CODE, {"value": value[8:17], "limit": limit}
    if not rows:
        what = {"uscc": "USCC", "org_code": "organisation code", "reg_no": "registration number"}
        raise NotFound(f"no enterprise with {what[kind]} {value} in the graph")
    return (yield from _entities(key, kind, [("Enterprise", r["uid"]) for r in rows]))


def _by_id_hash(key: str, id18: str, salt: str, limit: int) -> Steps[Resolution]:
    from resolver.linkage.survivorship import id_hash

    rows = yield queries.PERSON_BY_ID_HASH, {"value": id_hash(id18, salt), "limit": limit}
    if not rows:
        raise NotFound(
            f"no person with ID number {_mask(id18)} in the graph (matched by its salted hash: "
            "the salt must be the one of the run that was loaded)"
        )
    return (yield from _entities(key, "id_number", [("Person", r["uid"]) for r in rows]))


def _record_steps(key: str, dept: str, record_id: str) -> Steps[Resolution]:
    """A department record: a record is (dept, kind, record_id), so one ``DEPT:RECORD_ID``
    may name several records (an enterprise and a person record, or an event): one entity
    is a resolution, several are candidates naming each record's kind."""
    dept, record_id = dept.strip().upper(), record_id.strip()
    hits: list[tuple[str, str, str]] = []  # (kind, label, uid)
    rows = yield (
        queries.RECORD_ENTITY,
        {"uids": [f"{dept}|{kind}|{record_id}" for kind in ("enterprise", "person")]},
    )
    hits += [(str(r["record"]).split("|")[1], r["label"], r["uid"]) for r in rows]
    for kind, lab in zip(EVENT_KINDS, EVENT_LABELS, strict=True):
        rows = yield queries.EVENT_SUBJECT.format(label=label(lab)), {"uid": f"{dept}|{record_id}"}
        hits += [(kind, r["label"], r["uid"]) for r in rows]
    if not hits:
        raise NotFound(
            f"no record {dept}:{record_id} resolved in the graph "
            "(enterprise, person and event records are kept; check department code and record ID)"
        )
    found: dict[str, tuple[str, dict[str, Any], tuple[str, ...], list[str]]] = {}
    for kind, lab, uid in hits:
        current, props, path = yield from _follow(lab, uid)
        found.setdefault(current, (lab, props, path, []))[3].append(kind)
    if len(found) == 1:
        (uid, (lab, _, path, _)), *_ = found.items()
        return Resolution(key, "record", uid, lab, path if len(path) > 1 else ())
    cands = tuple(
        Candidate(uid, lab, props.get("name"), " and ".join(f"{k} record" for k in kinds))
        for uid, (lab, props, _, kinds) in sorted(found.items())
    )
    return Resolution(key, "record", None, None, (), cands)


def _name_steps(key: str, text: str, limit: int) -> Steps[Resolution]:
    from resolver.standardize.names import basic_normalise

    fragment = basic_normalise(text) or text
    hits: list[tuple[int, int, str, str, str | None]] = []
    total = 0
    for order, lab in enumerate(("Enterprise", "Person")):
        rows = yield (
            queries.SEARCH_ENTITY_NAMES.format(label=label(lab)),
            {"text": fragment, "limit": limit},
        )
        hits += [(int(r["rank"]), order, r["uid"], lab, r["name"]) for r in rows]
        if len(rows) < limit:
            total += len(rows)
        else:  # capped: count them all
            counted = yield queries.COUNT_ENTITY_NAMES.format(label=label(lab)), {"text": fragment}
            total += int(counted[0]["total"]) if counted else len(rows)
    hits.sort(key=lambda h: (h[0], h[1], len(h[4] or ""), h[2]))
    if not hits:
        raise NotFound(
            f"nothing in the graph matches {text!r}: give a golden ID, USCC, organisation code, "
            "registration number, ID number, DEPT:RECORD_ID or part of a name"
        )
    exact = [h for h in hits if h[0] == 0]
    if len(hits) == 1 or len(exact) == 1:
        _, _, uid, lab, _ = exact[0] if exact else hits[0]
        return Resolution(key, "name", uid, lab)
    match = {0: "exact", 1: "prefix", 2: "name", 3: "former name"}
    cands = tuple(Candidate(uid, lab, name, match[r]) for r, _, uid, lab, name in hits[:limit])
    return Resolution(key, "name", None, None, (), cands, max(total, len(cands)))


def key_needs_salt(key: str) -> bool:
    """True when the key is a personal ID number (matched by its salted hash)."""
    from resolver.standardize import identifiers as ids

    value = ids.normalise_identifier(key.strip())
    if value is None or ":" in key or not _IDENTIFIER_SHAPE.match(value):
        return False
    check = ids.classify_identifier(value)
    if check is None:
        return False
    return (
        check.kind in _PERSON_ID_KINDS
        or check.kind == "id15"
        or (check.kind == "tax_id" and "id_number" in check.details)
    )


def resolve_steps(key: str, salt: str | None = None, limit: int = 10) -> Steps[Resolution]:
    """The steps resolving ``key`` (see the module docstring)."""
    text = key.strip()
    if not text:
        raise BadKey("empty key: give a golden ID, identifier, DEPT:RECORD_ID or a name")
    dept, sep, record_id = text.partition(":")
    if sep:
        if not dept.strip() or not record_id.strip():
            raise BadKey(f"{text!r}: write a record as DEPT:RECORD_ID, e.g. AMR:AMR000001650")
        return (yield from _record_steps(key, dept, record_id))
    if GOLDEN_ID.match(text.upper()):
        uid = text.upper()
        return (yield from _entities(key, "golden_id", [(_label_of(uid), uid)]))
    steps = _identifier_steps(key, text, salt, limit)
    if steps is not None:
        return (yield from steps)
    return (yield from _name_steps(key, text, limit))


def view_steps(uid: str, limit: int = 200) -> Steps[EntityView]:
    """The steps reading the view of golden entity ``uid`` (redirects followed)."""
    lab = _label_of(uid)
    current, props, path = yield from _follow(lab, uid)
    lab_q = label(lab)
    merged_from: list[str] = []
    frontier = [current]
    for _ in range(_MAX_REDIRECTS):
        rows = yield queries.MERGED_INTO.format(label=lab_q), {"uids": frontier}
        frontier = [r["uid"] for r in rows if r["uid"] not in merged_from and r["uid"] != current]
        if not frontier:
            break
        merged_from += frontier
    params = {"uid": current, "limit": limit}
    members = yield queries.MEMBER_RECORDS.format(label=lab_q), params
    rel_in = yield queries.RELATED_IN.format(label=lab_q), params
    rel_out = yield queries.RELATED_OUT.format(label=lab_q), params
    events = yield (
        queries.SUBJECT_EVENTS.format(label=lab_q, event_label=label("CreditEvent")),
        params,
    )
    counts = yield queries.COUNT_SUBJECT_EVENTS.format(label=lab_q), {"uid": current}
    inbound = [_related(r) for r in rel_in]
    outbound = [_related(r) for r in rel_out]
    legal_reps = tuple(r for r in inbound if r.rel == "LEGAL_REP_OF")
    rep_name = props.get("legal_rep_name")
    unlinked = (
        str(rep_name)
        if lab == "Enterprise" and rep_name and rep_name not in {r.name for r in legal_reps}
        else None
    )
    return EntityView(
        uid=current,
        label=lab,
        name=props.get("name"),
        lifecycle=lifecycle_of(props),
        registration_status=registration_status_of(props),
        facts=_facts(lab, props),
        members=tuple(
            MemberRecord(
                str(m["dept"]),
                str(m["record_id"]),
                m.get("batch_id"),
                m.get("decision"),
                m.get("score"),
            )
            for m in members
        ),
        legal_reps=legal_reps,
        officers=tuple(r for r in inbound if r.rel == "SERVES_AS"),
        shareholders=tuple(r for r in inbound if r.rel == "HOLDS_SHARES"),
        holdings=tuple(r for r in outbound if r.rel == "HOLDS_SHARES"),
        roles=tuple(r for r in outbound if r.rel in ("LEGAL_REP_OF", "SERVES_AS")),
        branches=tuple(r for r in inbound if r.rel == "BRANCH_OF"),
        parents=tuple(r for r in outbound if r.rel == "BRANCH_OF"),
        events=tuple(_event(e["label"], dict(e["props"] or {})) for e in events),
        event_counts={str(c["label"]): int(c["n"]) for c in counts},
        merged_from=tuple(sorted(merged_from)),
        redirects=path if len(path) > 1 else (),
        legal_rep_unlinked=unlinked,
        member_limit_hit=len(members) >= limit,
    )


def _related(r: Row) -> Related:
    sources = r.get("sources")
    return Related(
        rel=str(r["rel"]),
        label=str(r["label"]),
        uid=str(r["uid"]),
        name=r.get("name"),
        role=r.get("role"),
        ratio=r.get("ratio"),
        amount=r.get("amount"),
        start=r.get("start_date"),
        end=r.get("end_date"),
        sources=tuple(str(s) for s in sources) if isinstance(sources, list) else (),
    )


def _event(lab: str, p: dict[str, Any]) -> Event:
    return Event(
        label=lab,
        uid=str(p.get("uid")),
        kind=p.get("event_type") or p.get("fact_type") or p.get("tax_type"),
        date=p.get("date") or p.get("period"),
        dept=p.get("dept"),
        record_id=p.get("record_id"),
        decision_no=p.get("decision_no"),
        authority=p.get("authority"),
        severity=p.get("severity"),
        amount=p.get("amount") if p.get("amount") is not None else p.get("tax_paid"),
        publicity_until=p.get("publicity_until"),
        description=p.get("description"),
    )


# -- drivers ------------------------------------------------------------------------------
def run_steps(store: GraphStore, steps: Steps[T]) -> T:
    """Run look-up steps on a synchronous store."""
    try:
        query, params = next(steps)
        while True:
            query, params = steps.send(store.read(query, params))
    except StopIteration as done:
        result: T = done.value
        return result


async def run_steps_async(store: AsyncGraphStore, steps: Steps[T]) -> T:
    """Run look-up steps on an asynchronous store."""
    try:
        query, params = next(steps)
        while True:
            query, params = steps.send(await store.read(query, params))
    except StopIteration as done:
        result: T = done.value
        return result


def resolve_key(
    store: GraphStore, key: str, *, salt: str | None = None, limit: int = 10
) -> Resolution:
    """Resolve a key (golden ID, identifier, DEPT:RECORD_ID or name fragment)."""
    return run_steps(store, resolve_steps(key, salt, limit))


def entity_view(store: GraphStore, uid: str, *, limit: int = 200) -> EntityView:
    """The view of one golden entity (an old ID shows the entity it was merged into)."""
    return run_steps(store, view_steps(uid, limit))


async def resolve_key_async(
    store: AsyncGraphStore, key: str, *, salt: str | None = None, limit: int = 10
) -> Resolution:
    """:func:`resolve_key` over the asynchronous store."""
    return await run_steps_async(store, resolve_steps(key, salt, limit))


async def entity_view_async(store: AsyncGraphStore, uid: str, *, limit: int = 200) -> EntityView:
    """:func:`entity_view` over the asynchronous store."""
    return await run_steps_async(store, view_steps(uid, limit))
