"""``credgraph link --state``: apply a batch to the resolution state incrementally.

New and changed records are blocked against the stored records through the indexed key
table; only the clusters they touch (plus those of withdrawn records and of new human
judgements) are re-linked, with the stored match model, and everything else costs nothing.
Golden IDs are stable: a re-formed cluster keeps the ID its records had; on a merge the
oldest ID survives and the others redirect to it; on a split the part holding most of the
old records keeps the ID and the rest get new ones; an entity left with no records is
retired. Every such change is an event in the history. A batch is applied in one SQLite
transaction: a process killed at any point leaves the state as it was, and the next run
applies the batch again from the start. Re-running a completed batch changes nothing.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from resolver.gcpause import without_gc
from resolver.ingest.manifest import Manifest, load_manifest
from resolver.ingest.rows import Record, RecordKey
from resolver.linkage.compare import COMPARISONS, blocking_keys, entity_record
from resolver.linkage.fellegi_sunter import FSModel
from resolver.linkage.link import (
    Engine,
    KindResult,
    LinkConfig,
    LinkResult,
    LocalEngine,
    Progress,
    Resolver,
    Streamed,
    _resolve_mentions,
    _write_outputs,
    finish_report,
    mention_enterprise_key,
    run_info,
)
from resolver.linkage.mentions import identifier_tokens, mention_tokens, name_stem, name_tokens
from resolver.linkage.survivorship import Golden, build_golden, id_hash
from resolver.standardize.names import normalise_person_name
from resolver.state import graphsync, run_files
from resolver.state.store import KEY_MATCH, BatchConflict, State, current_ids, now, rows_by_keys
from resolver.workers import ForkedCall, can_fork

ENTITY_KINDS = ("enterprise", "person")
EVENT_LABELS = {"credit_event": "CreditEvent", "fact": "Fact", "tax_declaration": "TaxDeclaration"}


def _fault(point: str) -> None:
    """Fault injection for the crash tests: ``CREDGRAPH_FAULT_AT=point`` kills the process
    there with SIGKILL (no clean-up runs, as with a power cut)."""
    if os.environ.get("CREDGRAPH_FAULT_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


def record_keys(rec: Record) -> list[str]:
    """Strong-identifier and blocking keys of an entity record, as stored in the key table."""
    er = entity_record(0, rec)
    return [f"{t}|{v}" for t, v in er.keys] + ["|".join(k) for k in blocking_keys(er)]


def _id_number(entity_id: str) -> int:
    return int(entity_id[1:]) if entity_id[1:].isdigit() else 1 << 62


@dataclass(slots=True)
class _Change:
    """What applying a batch changes about one entity kind."""

    result: KindResult
    gid_of: dict[RecordKey, str]
    goldens: list[Golden]
    new_ids: list[str]
    merged: dict[str, str]  # absorbed ID -> survivor
    retired: list[str]
    history: list[tuple[str, str, dict[str, Any]]]  # (entity, event, detail)
    model: FSModel | None
    #: Re-linked entities that keep their ID and exactly their stored records (none of them
    #: touched by the batch): rows found by their identifiers resolve as before.
    same: set[str] = field(default_factory=set)
    #: Where each re-linked record was stored before this batch (entity ID; records new to
    #: the state are not in it).
    stored_entity: dict[RecordKey, str] = field(default_factory=dict)
    #: The batch that delivered each re-linked stored record the batch leaves as it is.
    stored_batch: dict[RecordKey, str | None] = field(default_factory=dict)


class StateResolver(Resolver):
    """Mention resolution against the in-memory affected clusters, then the stored state."""

    def __init__(
        self,
        state: State,
        person_seq: list[int] | None = None,
        enterprise_seq: list[int] | None = None,
    ) -> None:
        super().__init__()
        self.state = state
        self.person_seq = person_seq if person_seq is not None else [0]
        self.enterprise_seq = enterprise_seq if enterprise_seq is not None else [0]
        #: Persons first known from a mention in this batch: ID hash -> golden ID.
        self.new_mention_persons: dict[str, str] = {}
        #: Enterprises first known from a mention in this batch: key hash -> golden ID.
        self.new_mention_enterprises: dict[str, str] = {}
        #: Records the batch re-delivers or withdraws; IDs it retires or merges away.
        self.superseded: set[RecordKey] = set()
        self.gone: set[str] = set()
        #: Mention names whose stored candidates are already in the subject index.
        self._prepared: set[str] = set()
        self._indexed: set[str] = set()
        self._read_keys: set[str] = set()  # key tokens and 字号 prefixes read for them
        #: Look-ups in the stored state, which does not change while mentions resolve (the
        #: batch is written afterwards): key -> entity, and where a stored ID points now.
        self._key_cache: dict[str, str | None] = {}
        self.current = current_ids(state)

    def prepare_subject(self, rec: Record) -> None:
        """Add the stored entities a mention's name may stand for to the subject index: the
        batch's unchanged entities are not in memory, and a mention that names one of them by
        name or masked ID must resolve as it did when that entity was linked."""
        raw = rec.raw.get("name") or ""
        if not raw or raw in self._prepared:
            return
        self._prepared.add(raw)
        keys = {f"nn|{normalise_person_name(raw)}"}
        view = entity_record(0, replace(rec, kind="enterprise"))
        keys.update("|".join(k) for k in blocking_keys(view) if k[0] in ("n", "b"))
        # The records holding these keys (a key held by more than 10,000 records skipped, as
        # State.records_by_key does) with their entities, read in the same query.
        token = self.state.sealer.key_token
        # A key (or 字号 prefix) read for an earlier name found entities that are in the
        # index since (or excluded as they are now): reading it again adds nothing.
        tokens = sorted({token(k) for k in keys} - self._read_keys)
        self._read_keys.update(tokens)
        per_key: dict[str, list[tuple[RecordKey, str | None]]] = defaultdict(list)
        for i in range(0, len(tokens), 500):
            chunk = tokens[i : i + 500]
            for key, d, k, r, eid, status, target in self.state.db.execute(
                f"SELECT k.key, k.dept, k.kind, k.record_id, {_ENTITY_COLS} FROM keys k "
                f"{_ENTITY_JOIN} WHERE k.key IN ({','.join('?' * len(chunk))})",
                chunk,
            ):
                per_key[key].append(((d, k, r), self._now_of(eid, status, target)))
        found: dict[RecordKey, str | None] = {}
        for key, recs in per_key.items():
            if (key[0] in "UORI" and key[1] == "|") or len(recs) <= 10_000:
                found.update(recs)
        stem = name_stem(raw)
        lo = f"ld|{stem[:2]}|" if stem and len(stem) >= 3 else ""
        # A short account name keeps the 字号: every district's firm with that 字号 prefix.
        if lo and lo not in self._read_keys:
            self._read_keys.add(lo)
            for d, k, r, eid, status, target in self.state.db.execute(
                f"SELECT k.dept, k.kind, k.record_id, {_ENTITY_COLS} FROM (SELECT dept, kind, "
                "record_id FROM keys WHERE key >= ? AND key < ? LIMIT 10000) k "
                f"{_ENTITY_JOIN}",
                (lo, lo + "\uffff"),
            ):
                found[(d, k, r)] = self._now_of(eid, status, target)
        stored = {
            eid for key, eid in found.items() if eid is not None and key not in self.superseded
        }
        stored -= self.gone | self._indexed
        self._indexed |= stored
        for eid, member in self.state.members_by_entity(stored, index_view=True):
            if member.key in self.superseded:
                continue
            if member.kind == "enterprise":
                self.subjects.add_enterprise(eid, member)
            else:
                self.subjects.add_person(eid, member)

    def person_at(self, egid: str, name: str, salt: str) -> str | None:
        gid = super().person_at(egid, name, salt)
        return gid if gid is not None else self._registered(f"at\x1f{egid}\x1f{name}", salt)

    def mention_person(self, id18: str, salt: str) -> tuple[str, bool]:
        """A registry ID (``P…`` from the state's sequence) for a person known only from
        mentions; the same ID number always gets the same ID."""
        return self._registry_id(id18, salt, self.new_mention_persons, self.person_seq, "P")

    def mention_enterprise(self, key: str, salt: str) -> tuple[str, bool]:
        """A registry ID (``E…`` from the state's sequence) for an enterprise known only from
        mentions; the same mention key always gets the same ID (registry ``mention_persons``,
        keyed by the salted hash of ``enterprise`` + key)."""
        return self._registry_id(
            f"enterprise\x1f{key}", salt, self.new_mention_enterprises, self.enterprise_seq, "E"
        )

    def _registry_id(
        self, reg_key: str, salt: str, new: dict[str, str], seq: list[int], prefix: str
    ) -> tuple[str, bool]:
        """(ID, first seen in this batch) of a registry key: one this batch already gave an
        ID, else one the state holds, else the next ID of the kind's sequence."""
        h = id_hash(reg_key, salt)
        if h in new:
            return new[h], True
        found = self._registered(reg_key, salt)
        if found is not None:
            return found, False
        seq[0] += 1
        gid = f"{prefix}{seq[0]:09d}"
        new[h] = gid
        return gid, True

    def _by_key(self, key: str) -> str | None:
        if key in self._key_cache:
            return self._key_cache[key]
        rows = self.state.db.execute(
            "SELECT r.dept, r.kind, r.record_id, r.entity_id FROM keys k JOIN records r "
            "ON r.dept = k.dept AND r.kind = k.kind AND r.record_id = k.record_id "
            "WHERE k.key = ? AND r.withdrawn = 0 AND r.entity_id IS NOT NULL LIMIT 200",
            (self.state.sealer.key_token(key),),
        ).fetchall()
        found = self._key_cache[key] = self._one_entity(
            [((d, k, r), self.current(eid)) for d, k, r, eid in rows]
        )
        return found

    def _now_of(self, eid: str | None, status: str | None, target: str | None) -> str | None:
        """Where a stored entity ID points now, given its row (status, redirect): itself
        unless merged away (then the redirects are followed)."""
        if eid is None:
            return None
        if status is not None and (status != "merged" or not target):
            return eid
        return self.current(eid)

    def _one_entity(self, rows: list[tuple[RecordKey, str]]) -> str | None:
        """The one current entity of a key's stored records, or None (none, several, or one
        this batch retires or merges away). Records this batch delivers again or withdraws
        count with their new content (in memory), never with what the state still holds."""
        ids = {eid for key, eid in rows if key not in self.superseded}
        return next(iter(ids)) if len(ids) == 1 and not ids & self.gone else None

    def prefetch(self, by_kind: Mapping[str, list[Record]]) -> None:
        """The keys the mentions of these records will look up in the state (what the
        batch's re-linked clusters in memory do not answer), read in a few queries instead
        of one per key; :meth:`_by_key` then finds them in its cache. A name is looked up
        only where no identifier found an entity, as :meth:`enterprise` does: in a second
        round."""
        calls: list[tuple[list[str], str]] = []  # (identifier keys, name key)
        first: set[str] = set()
        memory = Resolver()  # the in-memory answers only (the batch's re-linked clusters)
        memory.keys, memory.enterprise_names = self.keys, self.enterprise_names
        for kind in ("role", "shareholding", "enterprise", *EVENT_LABELS):
            for rec in by_kind.get(kind, ()):
                s = rec.std
                for u, o, r, n in (
                    (s.get("uscc"), s.get("org_code"), s.get("reg_no"), s.get("name_norm")),
                    (s.get("parent_uscc"), None, None, s.get("parent_name_norm")),
                    (s.get("holder_uscc"), None, None, s.get("holder_name_norm")),
                ):
                    if (u or o or r or n) and memory.enterprise(u, o, r, n)[0] is None:
                        ids = [f"{t}|{v}" for t, v in (("U", u), ("O", o), ("R", r)) if v]
                        first.update(ids)
                        if n:
                            calls.append((ids, f"n|{n}"))
                for fld in ("id18", "holder_id_number", "legal_rep_id"):
                    if (v := s.get(fld)) and ("I", v) not in self.keys:
                        first.add(f"I|{v}")
        self._fetch_keys(first)
        cache = self._key_cache
        self._fetch_keys({name for ids, name in calls if not any(cache[k] for k in ids)})

    def _fetch_keys(self, keys: set[str]) -> None:
        """Answer :meth:`_by_key` for these keys at once (those not answered yet)."""
        todo = sorted(keys.difference(self._key_cache))
        token = self.state.sealer.key_token
        by_token = {token(k): k for k in todo}
        # Two reads: the key rows joined to their records' entities (the rows of records
        # withdrawn or without an entity dropped, as the single look-up drops them), then
        # those entities' lifecycles (for redirects), each entity once.
        key_rows: dict[str, list[tuple[int, RecordKey, str]]] = defaultdict(list)
        tokens = list(by_token)
        for i in range(0, len(tokens), 500):
            chunk = tokens[i : i + 500]
            for tok, rowid, d, k, r, eid in self.state.db.execute(
                "SELECT k.key, k.rowid, k.dept, k.kind, k.record_id, r.entity_id FROM keys k "
                "JOIN records r ON r.dept = k.dept AND r.kind = k.kind "
                "AND r.record_id = k.record_id "
                f"WHERE k.key IN ({','.join('?' * len(chunk))}) "
                "AND r.withdrawn = 0 AND r.entity_id IS NOT NULL",
                chunk,
            ):
                key_rows[tok].append((rowid, (d, k, r), eid))
        entity_of = {rk: eid for rows in key_rows.values() for _i, rk, eid in rows}
        now = self._now_all(set(entity_of.values()))
        for tok, key in by_token.items():
            # As the single look-up reads them: the first 200 of its records that are not
            # withdrawn and have an entity, in the key index's order.
            first = [(rk, now[eid]) for _i, rk, eid in sorted(key_rows.get(tok, []))]
            self._key_cache[key] = self._one_entity(first[:200])

    def _now_all(self, ids: set[str]) -> dict[str, str]:
        """Where each stored entity ID points now (:meth:`_now_of`), read in chunks."""
        out: dict[str, str] = {}
        ordered = sorted(ids)
        for i in range(0, len(ordered), 500):
            chunk = ordered[i : i + 500]
            for eid, status, target in self.state.db.execute(
                "SELECT id, status, redirect_to FROM entities "
                f"WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            ):
                out[eid] = self._now_of(eid, status, target) or eid
        for eid in ids.difference(out):  # no entity row: as State.resolve answers
            out[eid] = self.current(eid)
        return out

    def _registered(self, key: str, salt: str) -> str | None:
        found = graphsync.mention_person(self.state.db, id_hash(key, salt))
        if found is None:
            return None
        gid = self.current(found)
        return None if gid in self.gone or self.state.entity_status(gid) == "retired" else gid

    def enterprise(
        self, uscc: str | None, org: str | None, reg: str | None, name: str | None
    ) -> tuple[str | None, str]:
        gid, how = super().enterprise(uscc, org, reg, name)
        if gid is not None:
            return gid, how
        for tag, v in (("U", uscc), ("O", org), ("R", reg)):
            if v and (found := self._by_key(f"{tag}|{v}")):
                return found, "by_id"
        # A name two of the batch's re-linked entities carry is ambiguous, as in a one-shot
        # run: the state's records (which do not hold the batch's new ones) must not single
        # out one of them.
        if (
            name
            and len(self.enterprise_names.get(name, ())) < 2
            and (found := self._by_key(f"n|{name}"))
        ):
            return found, "by_name"
        return None, "unresolved"

    def person(self, id18: str | None) -> tuple[str | None, str]:
        gid, how = super().person(id18)
        if gid is None and id18 and (found := self._by_key(f"I|{id18}")):
            return found, "by_id"
        return gid, how

    def record_entity(self, rec: Record) -> str | None:
        """A record of the batch: the entity it was linked to now; a stored record whose rows
        are resolved again: the entity the state holds it in (where that ID points now)."""
        gid = super().record_entity(rec)
        if gid is not None or rec.key in self.superseded:
            return gid
        found = self.state.entity_of([rec.key]).get(rec.key)
        if found is None:
            return None
        gid = self.current(found)
        return None if gid in self.gone else gid


#: A stored record's entity and that entity's lifecycle, joined to a key-table row ``k``.
_ENTITY_COLS = "r.entity_id, e.status, e.redirect_to"
_ENTITY_JOIN = (
    "LEFT JOIN records r ON r.dept = k.dept AND r.kind = k.kind AND r.record_id = k.record_id "
    "LEFT JOIN entities e ON e.id = r.entity_id"
)


def _mention_hashes(kind: str, members: list[Record], salt: str) -> list[str]:
    """The registry hashes a cluster's records may be known under from mentions: a person's
    ID numbers; an enterprise's identifiers and names."""
    if kind == "person":
        keys = sorted({r.std["id18"] for r in members if r.std.get("id18")})
    else:
        keys = sorted(
            {
                f"enterprise\x1f{key}"
                for r in members
                if (
                    key := mention_enterprise_key(
                        r.std.get("uscc"), None, None, r.std.get("name_norm")
                    )
                )
            }
            | {f"enterprise\x1fn|{r.std['name_norm']}" for r in members if r.std.get("name_norm")}
        )
    return [id_hash(key, salt) for key in keys]


def _mention_id(
    state: State, hashes: list[str], registry: dict[str, str], taken: set[str]
) -> str | None:
    """The registry ID of a mention-only person with one of these records' ID numbers, or of
    a mention-only enterprise with one of these records' identifiers or names (``hashes``:
    :func:`_mention_hashes`; ``registry``: what the state's registry holds for them)."""
    for h in hashes:
        found = registry.get(h)
        if (
            found
            and found not in taken
            and state.entity_status(found) == "active"
            and not state.db.execute(
                "SELECT 1 FROM records WHERE entity_id = ? LIMIT 1", (found,)
            ).fetchone()
        ):
            return found
    return None


class _KindArgs(NamedTuple):
    """What :func:`_apply_kind` is given for one kind (besides the state and ``keys_of``)."""

    kind: str
    touched: list[Record]
    withdrawn: set[RecordKey]
    withdrawn_ids: set[str]
    cfg: LinkConfig
    progress: Progress | None
    as_of: str
    next_seq: list[int]
    engine: Engine
    prior: dict[RecordKey, str]


#: A kind re-linked in a forked child: its change, its records' keys and where its ID
#: sequence ended, or the exception it raised (raised again in the parent as it was).
_KindOutcome = tuple[_Change, dict[RecordKey, list[str]], int] | BaseException


def _apply_kind_apart(state: State, args: _KindArgs) -> _KindOutcome:
    """:func:`_apply_kind` in a forked child (its own connection to the state)."""
    try:
        state.reconnect_in_child()
        keys_of: dict[RecordKey, list[str]] = {}
        change = _apply_kind(state, *args, keys_of=keys_of)
        return change, keys_of, args.next_seq[0]
    except Exception as exc:  # e.g. a StateKeyError: the parent shows its one-line message
        return exc


def _apply_kind(
    state: State,
    kind: str,
    touched: list[Record],
    withdrawn: set[RecordKey],
    withdrawn_ids: set[str],
    cfg: LinkConfig,
    progress: Progress | None,
    as_of: str,
    next_seq: list[int],
    engine: Engine,
    prior: dict[RecordKey, str],
    *,
    keys_of: dict[RecordKey, list[str]],
) -> _Change:
    """Re-link the clusters the touched records (and judgements, withdrawals) affect;
    ``keys_of`` gets each touched record's :func:`record_keys`; ``prior``: the stored entity
    of the batch's records that the state holds (:meth:`State.stored_hashes`)."""
    touched_keys = {r.key for r in touched}
    keys: set[str] = set()
    for r in touched:
        keys_of[r.key] = record_keys(r)
        keys.update(keys_of[r.key])
    neighbours = state.records_by_key(keys, cfg.max_block)
    affected = set(state.entity_of(neighbours).values())
    left = {k: prior[k] for k in touched_keys if k in prior}
    affected.update(left.values())  # the clusters changed records leave
    affected.update(withdrawn_ids)
    judged = state.pending_judgement_records()
    affected.update(state.entity_of(judged).values())
    old: list[Record] = []
    old_id_of: dict[RecordKey, str] = {}
    old_batch: dict[RecordKey, str | None] = {}
    for eid, batch_id, r in state.kind_members(affected, kind):
        if r.key not in touched_keys and r.key not in withdrawn:
            old.append(r)
            old_id_of[r.key] = eid
            old_batch[r.key] = batch_id
    subset = sorted(old + touched, key=lambda r: (r.dept, r.record_id))
    index = {r.key: i for i, r in enumerate(subset)}
    must: list[tuple[int, int]] = []
    cannot: list[tuple[int, int]] = []
    for j in state.judgements():
        if j.a in index and j.b in index:
            (must if j.decision == "match" else cannot).append((index[j.a], index[j.b]))
    pending = [j for j in state.judgements(pending=True) if j.decision == "match"]
    stored_model = state.model(kind)
    model = FSModel.from_json(stored_model) if stored_model else None
    if model is not None and not model.fits(*COMPARISONS[kind]):
        model = None  # parameters of an older engine: retrain (and store) instead
    res = engine.link_kind(kind, subset, cfg, progress, model, must, cannot)
    # Stable IDs: each old ID goes to the cluster holding most of its records.
    counts: dict[str, Counter[int]] = defaultdict(Counter)
    for i, rec in enumerate(subset):
        oid = old_id_of.get(rec.key)
        if oid is not None:
            counts[oid][res.cluster_of[i]] += 1
    owner = {oid: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for oid, c in counts.items()}
    owned: dict[int, list[str]] = defaultdict(list)
    for oid, c in owner.items():
        owned[c].append(oid)
    stored_size = Counter(old_id_of.values())
    left_from = set(left.values())  # the entities the batch's changed records were stored in
    same: set[str] = set()
    gid_of: dict[RecordKey, str] = {}
    goldens: list[Golden] = []
    new_ids: list[str] = []
    merged: dict[str, str] = {}
    history: list[tuple[str, str, dict[str, Any]]] = []
    adopted: set[str] = set()
    # The registry entries of the clusters that hold no stored ID, read at once.
    hashes_of = {
        c: _mention_hashes(kind, [subset[i] for i in members_idx], cfg.salt)
        for c, members_idx in enumerate(res.clusters)
        if not owned.get(c)
    }
    registry = graphsync.mention_persons(
        state.db, {h for hashes in hashes_of.values() for h in hashes}
    )
    for c, members_idx in enumerate(res.clusters):
        members = [subset[i] for i in members_idx]
        ids_here = sorted(owned.get(c, []), key=_id_number)
        if ids_here:
            gid = ids_here[0]
            # Kept exactly its records: its untouched stored records, no other record, and
            # none of its stored records changed (a changed record that left it took its
            # identifiers with it: rows found by them must be resolved again).
            if (
                len(ids_here) == 1
                and gid not in left_from
                and len(members) == stored_size[gid]
                and all(old_id_of.get(r.key) == gid for r in members)
            ):
                same.add(gid)
            for other in ids_here[1:]:
                merged[other] = gid
                cause: dict[str, Any] = {
                    "cause_records": [
                        f"{r.dept}:{r.record_id}" for r in members if r.key in touched_keys
                    ][:20]
                }
                # A steward's match judgement joining the two: named with who and when.
                by_judgement = [
                    f"{j.a[0]}:{j.a[2]} = {j.b[0]}:{j.b[2]} (by {j.by} at {j.at})"
                    for j in pending
                    if {old_id_of.get(j.a), old_id_of.get(j.b)} == {gid, other}
                ]
                if by_judgement:
                    cause["judgements"] = by_judgement
                history.append((gid, "merge", {"absorbed": other, **cause}))
                history.append((other, "merged_into", {"into": gid, **cause}))
        elif (known := _mention_id(state, hashes_of[c], registry, adopted)) is not None:
            # A person first known from mentions now has records: it keeps its ID.
            gid = known
            adopted.add(gid)
            history.append((gid, "adopt", {"records": len(members)}))
        else:
            next_seq[0] += 1  # IDs only ever grow; the counter is saved with the batch
            gid = ("E" if kind == "enterprise" else "P") + f"{next_seq[0]:09d}"
            new_ids.append(gid)
            split_from = sorted({old_id_of[r.key] for r in members if r.key in old_id_of})
            detail: dict[str, Any] = {"records": len(members)}
            if split_from:
                detail["split_from"] = split_from
                for src in split_from:
                    history.append(
                        (
                            src,
                            "split",
                            {
                                "new_entity": gid,
                                "moved_records": [
                                    f"{r.dept}:{r.record_id}"
                                    for r in members
                                    if old_id_of.get(r.key) == src
                                ][:20],
                            },
                        )
                    )
            history.append((gid, "create", detail))
        for r in members:
            gid_of[r.key] = gid
        goldens.append(build_golden(gid, kind, members, as_of, cfg.salt))
    retired = sorted(
        oid
        for oid in affected
        if oid not in owner
        and oid not in merged
        and state.entity_status(oid) == "active"
        and oid[0] == ("E" if kind == "enterprise" else "P")
    )
    for oid in retired:
        history.append((oid, "retire", {"reason": "no records left (withdrawn or moved)"}))
    return _Change(
        res,
        gid_of,
        goldens,
        new_ids,
        merged,
        retired,
        history,
        res.model if model is None else None,
        same,
        {**old_id_of, **left},
        old_batch,
    )


@without_gc
def run_link_stateful(
    batch_dir: Path,
    out_dir: Path,
    state_dir: Path,
    cfg: LinkConfig | None = None,
    progress: Progress | None = None,
    engine: Engine | None = None,
    lock_wait: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
) -> LinkResult:
    """Apply a batch to the state in ``state_dir`` and write the Contract 2 files for it;
    ``engine`` runs ingest and linkage (default: the local engine).

    The run holds the state's writer lock throughout (waiting up to ``lock_wait`` seconds
    for another holder). The run's files are written to a staging directory and kept in the
    state inside the batch's transaction, then published: a batch already applied (also one
    whose run was killed right after the commit) gets its files written again from the
    state. The same batch_id with different content is refused (BatchConflict).
    """
    cfg = cfg or LinkConfig()
    engine = engine or LocalEngine()
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    manifest = load_manifest(batch_dir)
    info = run_info(manifest)
    with State(state_dir) as state, state.lock(lock_wait, on_wait, f"link {manifest.batch_id}"):
        graphsync.ensure_tables(state.db)
        cfg = replace(cfg, salt=state.salt)
        if state.batch_status(manifest.batch_id) == "completed":
            return _rewrite_applied(state, manifest, info, out_dir)
        staging = run_files.begin(out_dir)
        _fault("start")
        records, rejects, files = engine.ingest(manifest, progress)
        timings["ingest"] = time.perf_counter() - t0
        _fault("ingested")
        order = {(s.dept, s.file): i for i, s in enumerate(manifest.sources)}
        batch = sorted(records.values(), key=lambda r: (order[(r.dept, r.file)], r.line))
        hashes = {r.key: state.content_hash(r.kind, r.raw) for r in batch}
        stored = state.stored_hashes(hashes)
        touched = [
            r
            for r in batch
            if r.key not in stored or stored[r.key][0] != hashes[r.key] or stored[r.key][2]
        ]
        prior = {k: eid for k, (_h, eid, _w) in stored.items() if eid is not None}
        unchanged = len(batch) - len(touched)
        seen_before = sum(1 for r in touched if r.key in stored)
        # A withdrawal names (dept, record_id) and, optionally, the kind: without one it
        # takes back the department's records of every kind with that record_id.
        withdrawn = sorted(
            {
                key
                for dept, rid, wkind in manifest.withdrawn
                for key in state.keys_named(dept, rid)
                if not wkind or key[1] == wkind
            }
        )
        withdrawn_entities = state.entity_of(withdrawn)
        t = time.perf_counter()
        changes: dict[str, _Change] = {}
        seqs: dict[str, list[int]] = {}
        keys_of: dict[RecordKey, list[str]] = {}  # touched entity records' key-table keys

        def kind_args(kind: str, shown: Progress | None) -> _KindArgs:
            seqs[kind] = [int(state.meta(f"seq_{kind}") or "0")]
            return _KindArgs(
                kind,
                [r for r in touched if r.kind == kind],
                set(withdrawn),
                {e for e in withdrawn_entities.values() if e[0] == kind[0].upper()},
                cfg,
                shown,
                manifest.as_of.isoformat(),
                seqs[kind],
                engine,
                prior,
            )

        # Persons are re-linked in a forked child while this process re-links enterprises:
        # the two kinds share nothing until both are done (own records, clusters, ID
        # sequence; the state is only read), so the child's result is what this process
        # would have computed.
        apart: ForkedCall[_KindOutcome] | None = None
        if isinstance(engine, LocalEngine) and cfg.parallel and can_fork():
            apart = ForkedCall(
                functools.partial(_apply_kind_apart, state, kind_args("person", None))
            )
        for kind in ENTITY_KINDS:
            if kind == "person" and apart is not None:
                outcome = apart.result()
                if isinstance(outcome, BaseException):
                    raise outcome
                changes[kind], their_keys, seqs[kind][0] = outcome
                keys_of.update(their_keys)
            else:
                changes[kind] = _apply_kind(state, *kind_args(kind, progress), keys_of=keys_of)
            # (with the child: link_person is how long persons took beyond enterprises)
            timings[f"link_{kind}"] = time.perf_counter() - t
            t = time.perf_counter()
        _fault("linked")
        gid_of: dict[RecordKey, str] = {}
        for ch in changes.values():
            gid_of.update(ch.gid_of)
        # Stored role, shareholding, branch and event rows whose resolution may have
        # changed (loose ones, or pointing at a changed entity) are resolved again.
        changed_ids = set(withdrawn_entities.values())
        for ch in changes.values():
            changed_ids |= _changed_ids(ch)
        # Which they are is found (a forked child, when it may) while this process resolves
        # the batch's own rows: the two share nothing (the state is only read).
        stale_inputs = _StaleInputs(
            touched, stored, withdrawn, withdrawn_entities, {r.key for r in batch} | set(withdrawn)
        )
        by_token = functools.partial(_by_token, state, stale_inputs, changes)
        stale_apart: ForkedCall[_ByToken | Exception] | None = None
        if isinstance(engine, LocalEngine) and cfg.parallel and can_fork():
            stale_apart = ForkedCall(functools.partial(_in_child, state, by_token))
        keyed = functools.cache(state.sealer.keyed_hash)  # (the run's salt is fixed)
        same = {e for ch in changes.values() for e in ch.same}
        resolver = StateResolver(state, seqs["person"], seqs["enterprise"])
        resolver.superseded = {r.key for r in touched} | set(withdrawn)
        resolver.gone = {e for ch in changes.values() for e in (*ch.retired, *ch.merged)}
        resolver.own = gid_of
        for kind, ch in changes.items():
            for rec in ch.result.records:
                (resolver.add_enterprise if kind == "enterprise" else resolver.add_person)(
                    gid_of[rec.key], rec
                )
        by_kind: dict[str, list[Record]] = defaultdict(list)
        for rec in batch:
            by_kind[rec.kind].append(rec)
        edges, events, mention_links, mention_stats, extra_persons = _resolve_mentions(
            by_kind, resolver, cfg
        )
        mention_gid = {rec.key: gid for rec, gid, _how, _reason in mention_links}
        # Where each re-linked (or changed) record was stored before this batch.
        stored_entity = {k: e for ch in changes.values() for k, e in ch.stored_entity.items()}
        moved = _moved_records(state, gid_of, changes, stored_entity)
        # The rows by changed entity (and their records) while the child looks for the
        # rows by token; then the records of the rows only those found.
        stale = _by_id(state, stale_inputs, changes)
        stale_recs = list(state.records_of(stale))
        if stale_apart is None:
            tokened, tokens_of = by_token()
        else:
            found = stale_apart.result()
            if isinstance(found, BaseException):
                raise found
            tokened, tokens_of = found
        if tokened is not None:
            stale_recs += state.records_of(tokened - stale)
        stale_kind: dict[str, list[Record]] = defaultdict(list)
        for rec in sorted(stale_recs, key=lambda r: r.key):  # (as records_of gives them)
            stale_kind[rec.kind].append(rec)
        edges2, events2, _, _, extra2 = _resolve_mentions(stale_kind, resolver, cfg)
        extra_persons += extra2
        mention_rows: dict[RecordKey, tuple[str, list[dict[str, Any]]]] = {
            r.key: (r.kind, [])
            for r in (*batch, *(x for recs in stale_kind.values() for x in recs))
            if r.kind != "person"
        }
        for p in (*edges, *edges2, *events, *events2):
            mention_rows[graphsync.payload_key(p)][1].append(p)
        timings["mentions"] = time.perf_counter() - t
        t = time.perf_counter()
        relinked: list[tuple[RecordKey, float, str]] = [
            (rec.key, float(ch.result.score[i]), ch.result.decision[i])
            for ch in changes.values()
            for i, rec in enumerate(ch.result.records)
        ]
        registry = [
            *resolver.new_mention_persons.items(),
            *resolver.new_mention_enterprises.items(),
            *(
                (id_hash(f"at\x1f{egid}\x1f{name}", cfg.salt), gid)
                for (egid, name), gid in sorted(resolver.persons_at.items())
            ),
        ]
        with state.transaction(checkpoint_behind=True) as db:
            _fault("in_transaction")
            # The stored rows the mention, resolution, registry and golden-record writes
            # compare with, read before the transaction writes anything. (Read in a thread
            # on a connection of its own, they cost more than they saved: the second
            # connection maps state.db again and faults its pages in anew — 2.3 s instead of
            # 1.85 s for the state stage of a 10k batch into the 1M state.)
            stored_rows = graphsync.read_stored(
                db,
                mention_keys=sorted({*mention_rows, *withdrawn}),
                resolution_keys=sorted({k for k, _, _ in relinked}),
                registry_hashes=sorted(dict(registry)),
                golden_ids=sorted({g.data["id"] for ch in changes.values() for g in ch.goldens}),
            )
            batch_id = manifest.batch_id
            db.execute(
                "INSERT OR REPLACE INTO batches (batch_id, as_of, status, started_at, digest) "
                "VALUES (?, ?, 'running', ?, ?)",
                (batch_id, manifest.as_of.isoformat(), now(), info["batch_digest"]),
            )
            touched_keys = {r.key for r in touched}
            # One executemany per statement; the key rows sorted (the index takes them in
            # order): deleting every touched record's keys first, then inserting, is what
            # deleting and inserting record by record gives (the record keys are distinct).
            as_of = manifest.as_of.isoformat()
            db.executemany(
                "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                [
                    (
                        rec.dept,
                        rec.record_id,
                        rec.kind,
                        rec.file,
                        rec.line,
                        batch_id,
                        as_of,
                        hashes[rec.key],
                        state.sealer.seal(rec.raw),
                        state.sealer.seal(
                            {k: v for k, v in rec.std.items() if not k.startswith("_")}
                        ),
                        gid_of.get(rec.key) or mention_gid.get(rec.key),
                    )
                    for rec in touched
                ],
            )
            _save_keys(
                state,
                {(state.sealer.key_token(k), *key) for key, ks in keys_of.items() for k in ks},
                [r.key for r in touched if r.key in stored],
            )
            # Only records whose entity changes: rewriting an unchanged row still dirties its
            # page and its index entry, and a re-linked cluster mostly keeps its records.
            db.executemany(
                f"UPDATE records SET entity_id = ? WHERE {KEY_MATCH}",
                sorted(
                    (gid, *key)
                    for key, gid in gid_of.items()
                    if key not in touched_keys and stored_entity.get(key) != gid
                ),
            )
            for key in withdrawn:
                db.execute(f"UPDATE records SET withdrawn = 1 WHERE {KEY_MATCH}", key)
                db.execute(f"DELETE FROM keys WHERE {KEY_MATCH}", key)
                if (eid := withdrawn_entities.get(key)) is not None:
                    # The entity's history names the record its department took back.
                    state.add_history(
                        eid, "withdraw", batch_id, {"record": f"{key[0]}:{key[2]}", "kind": key[1]}
                    )
            golden_text = {
                g.data["id"]: json.dumps(g.data, ensure_ascii=False)
                for ch in changes.values()
                for g in ch.goldens
            }
            golden_same = _unchanged_goldens(state, golden_text, stored_rows.goldens)
            for kind, ch in changes.items():
                for gid in ch.new_ids:
                    db.execute(
                        "INSERT INTO entities VALUES (?, ?, 'active', NULL, ?, ?, NULL)",
                        (gid, kind, batch_id, batch_id),
                    )
                for old, into in ch.merged.items():
                    db.execute(
                        "UPDATE entities SET status = 'merged', redirect_to = ?, updated_batch = ? WHERE id = ?",
                        (into, batch_id, old),
                    )
                for gid in ch.retired:
                    db.execute(
                        "UPDATE entities SET status = 'retired', updated_batch = ? WHERE id = ?",
                        (batch_id, gid),
                    )
                db.executemany(
                    "UPDATE entities SET golden = ?, updated_batch = ? WHERE id = ?",
                    sorted(
                        (text, batch_id, gid)
                        for gid, text in golden_text.items()
                        if gid not in golden_same
                        and gid[0] == ("E" if kind == "enterprise" else "P")
                    ),
                )
                for eid, event, detail in ch.history:
                    state.add_history(eid, event, batch_id, detail)
                if ch.model is not None:
                    db.execute(
                        "INSERT OR REPLACE INTO models VALUES (?, ?)",
                        (kind, json.dumps(ch.model.to_json(), ensure_ascii=False)),
                    )
                for r in ch.result.review:
                    db.execute(
                        "INSERT INTO review VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            r["kind"],
                            r["dept_a"],
                            r["record_id_a"],
                            r["dept_b"],
                            r["record_id_b"],
                            r["probability"],
                            json.dumps(r["weights"], ensure_ascii=False),
                            json.dumps(r["comparison"], ensure_ascii=False),
                            r["name_a"],
                            r["name_b"],
                            batch_id,
                        ),
                    )
            db.execute("UPDATE judgements SET applied = 1")
            graphsync.save_registry(db, registry, stored_rows.registry)
            for g in extra_persons:
                db.execute(
                    "INSERT OR REPLACE INTO entities VALUES (?, ?, 'active', NULL, ?, ?, ?)",
                    (
                        g.data["id"],
                        g.data["type"].lower(),
                        batch_id,
                        batch_id,
                        json.dumps(g.data, ensure_ascii=False),
                    ),
                )
                state.add_history(g.data["id"], "create", batch_id, {"from": "mentions"})
            loose_tokens = {
                key: tokens_of[key] if key in tokens_of else mention_tokens(rec, keyed)
                for rec in batch
                if (key := rec.key) in mention_rows
                and any(graphsync.is_loose(p) for p in mention_rows[key][1])
            }
            # The rechecked stored records keep their content: their stored tokens hold.
            as_stored: dict[RecordKey, Callable[[], set[str]]] = {
                rec.key: functools.partial(mention_tokens, rec, keyed)
                for recs in stale_kind.values()
                for rec in recs
                if rec.key in mention_rows
            }
            mention_ids, changed_mentions = graphsync.save_mentions(
                db, mention_rows, withdrawn, loose_tokens, as_stored, stored_rows
            )
            state.set_meta(graphsync.TOKENS_META, "1")
            graphsync.save_resolutions(db, relinked, stored_rows.resolutions)
            for kind, seq in seqs.items():
                state.set_meta(f"seq_{kind}", str(seq[0]))
            summary = {
                "records": len(batch),
                "new_or_changed": len(touched),
                "new": len(touched) - seen_before,
                "changed": seen_before,
                "moved": moved,
                "unchanged": unchanged,
                "withdrawn": len(withdrawn),
                "entities": {
                    k: {
                        "affected_clusters": len(ch.result.clusters),
                        "new_ids": len(ch.new_ids),
                        "merged_ids": len(ch.merged),
                        "retired_ids": len(ch.retired),
                    }
                    for k, ch in changes.items()
                },
            }
            timings["state"] = time.perf_counter() - t
            t = time.perf_counter()
            # The run's files, written (staged) and kept in the state before the commit.
            results = {k: ch.result for k, ch in changes.items()}
            # Unchanged records of untouched clusters: their stored IDs (this batch did not
            # change them), as read before it.
            missing = [r.key for r in batch if r.kind in ENTITY_KINDS and r.key not in gid_of]
            current = current_ids(state)
            for key in missing:
                if key in prior:
                    gid_of[key] = current(prior[key])
            _restrict_to_batch(results, {r.key for r in batch if r.kind in ENTITY_KINDS}, batch)
            # golden.jsonl: the entities whose golden record or lifecycle changed. A re-linked
            # entity that kept its ID, exactly its records and its golden record is left out
            # (and out of the affected entities) unless one of its rows changed: the graph
            # holds it as it is.
            as_before = same & golden_same
            goldens = [
                g for ch in changes.values() for g in ch.goldens if g.data["id"] not in as_before
            ] + extra_persons
            # What the graph must change: see resolver/state/graphsync.py (read inside the
            # transaction, which sees its own writes).
            gone = sorted(
                {e for ch in changes.values() for e in (*ch.merged, *ch.retired)}
                - {g.data["id"] for g in goldens}
            )
            for eid in gone:
                if (data := graphsync.lifecycle_golden(state, eid)) is not None:
                    goldens.append(Golden(data, []))
            affected = (changed_ids - as_before) | mention_ids | {g.data["id"] for g in goldens}
            # (the rows of the records save_mentions was given, as it stored them)
            edge_rows, event_rows, edge_types = graphsync.rows_touching(
                state,
                affected,
                changed_mentions,
                {**mention_rows, **{k: (k[1], []) for k in withdrawn}},
            )
            # resolved.csv: the re-linked records' rows as this transaction wrote them (not
            # read back), the batch's other entity records' as stored.
            gone_keys = set(withdrawn)
            delivered = {
                k: b for ch in changes.values() for k, b in ch.stored_batch.items()
            } | dict.fromkeys(touched_keys, batch_id)
            graphsync.write_resolved(
                state,
                staging,
                {k for k, _, _ in relinked} | {r.key for r in batch if r.kind in ENTITY_KINDS},
                {
                    key: (gid_of[key], score, decision, delivered[key])
                    for key, score, decision in relinked
                    if key not in gone_keys
                },
            )
            graphsync.write_changes(
                staging,
                affected,
                [
                    ("SourceRecord", graphsync.source_uid(*k))
                    for k in withdrawn
                    if k[1] in ENTITY_KINDS
                ]
                + [
                    (EVENT_LABELS[k[1]], f"{k[0]}|{k[2]}")
                    for k in withdrawn
                    if k[1] in EVENT_LABELS
                ],
                graphsync.state_position(state, batch_id),
            )
            # golden.jsonl, edges.jsonl and events.jsonl written here (the stored rows as
            # they are stored, see graphsync.RowOut), the other files by _write_outputs.
            streamed = Streamed(
                run_files.JsonLinesWriter(staging / "golden.jsonl", "type"),
                run_files.JsonLinesWriter(staging / "edges.jsonl"),
                run_files.JsonLinesWriter(staging / "events.jsonl"),
            )
            with streamed.golden, streamed.edges, streamed.events:
                for g in goldens:
                    streamed.add_golden(g)
                for row in edge_rows:
                    streamed.edges.add(row)
                streamed.edges.counts = edge_types
                for row in event_rows:
                    streamed.events.add(row)
            report = _write_outputs(
                staging,
                manifest,
                results,
                gid_of,
                goldens,
                [],
                [],
                mention_links,
                rejects,
                files,
                mention_stats,
                timings,
                streamed,
            )
            report["state"] = {"dir": str(state_dir), **summary}
            with (staging / "redirects.jsonl").open("w", encoding="utf-8") as fh:
                for ch in changes.values():
                    for old_id, new_id in sorted(ch.merged.items()):
                        fh.write(json.dumps({"old": old_id, "new": new_id}) + "\n")
            timings["write"] = time.perf_counter() - t
            finish_report(staging, report, timings, t0)
            state.store_run_files(batch_id, staging)
            _fault("before_commit")
            db.execute(
                "UPDATE batches SET status = 'completed', finished_at = ?, summary = ? WHERE batch_id = ?",
                (now(), json.dumps(summary, ensure_ascii=False), batch_id),
            )
        _fault("after_commit")
        run_files.publish(staging, out_dir, run_files.seal(staging, info))
        return LinkResult(report, out_dir)


def _rewrite_applied(
    state: State, manifest: Manifest, info: dict[str, Any], out_dir: Path
) -> LinkResult:
    """A batch already applied: refuse different content under its id, else write its run's
    files again from the state (unless ``out_dir`` already holds that complete run)."""
    stored = state.batch_digest(manifest.batch_id)
    if stored is not None and stored != info["batch_digest"]:
        raise BatchConflict(
            f"batch {manifest.batch_id} was already applied with different content "
            f"(digest {stored[:12]}…, this delivery {info['batch_digest'][:12]}…): "
            "give a new delivery its own batch_id"
        )
    summary = state.batch_summary(manifest.batch_id)
    report: dict[str, Any] = {
        "already_applied": True,
        "batch_id": manifest.batch_id,
        "state": summary,
    }
    try:
        marker = run_files.verify(out_dir)
        if marker.get("batch_id") == manifest.batch_id:
            return LinkResult({**report, "run_files": "present"}, out_dir)
    except run_files.IncompleteRunError:
        pass
    kept = state.run_files(manifest.batch_id)
    if not kept:
        return LinkResult({**report, "run_files": "not kept"}, out_dir)
    run_files.write_run(out_dir, kept, {**info, "rewritten_from_state": now()})
    return LinkResult({**report, "run_files": "written"}, out_dir)


def _save_keys(state: State, want: set[tuple[str, str, str, str]], stored: list[RecordKey]) -> None:
    """The key-table rows of the touched records: ``want`` for the entity records, none for
    other stored ones; only rows that differ from the stored ones are deleted or inserted
    (a changed record mostly keeps its keys; rewriting them dirties index pages)."""
    have: set[tuple[str, str, str, str]] = set()
    ordered = sorted(stored)
    have.update(
        rows_by_keys(state.db, "SELECT key, dept, kind, record_id FROM keys WHERE {keys}", ordered)
    )
    # A record that keeps none of its rows (a changed record mostly gets new keys) loses
    # them in one statement; the others row by row.
    gone = have - want
    kept = {row[1:] for row in have & want}
    whole = sorted({row[1:] for row in gone} - kept)
    state.db.executemany(f"DELETE FROM keys WHERE {KEY_MATCH}", whole)
    state.db.executemany(
        "DELETE FROM keys WHERE key = ? AND dept = ? AND kind = ? AND record_id = ?",
        sorted(row for row in gone if row[1:] in kept),
    )
    state.db.executemany("INSERT INTO keys VALUES (?, ?, ?, ?)", sorted(want - have))


def _unchanged_goldens(
    state: State, golden_text: dict[str, str], stored: dict[str, str | None] | None = None
) -> set[str]:
    """The IDs whose stored golden record is this text already (``golden_text``: ID -> the
    golden record's JSON): a re-linked entity whose golden record comes out the same is not
    written again. ``stored``: the stored golden records, read beforehand."""
    if stored is not None:
        return {eid for eid, text in golden_text.items() if eid in stored and stored[eid] == text}
    out: set[str] = set()
    ids = sorted(golden_text)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        out.update(
            eid
            for eid, stored in state.db.execute(
                f"SELECT id, golden FROM entities WHERE id IN ({','.join('?' * len(chunk))})", chunk
            )
            if stored == golden_text[eid]
        )
    return out


class _StaleInputs(NamedTuple):
    """What the search for stored mention rows to resolve again needs besides the changes
    (all known before the entity kinds are re-linked)."""

    touched: list[Record]
    stored: Mapping[RecordKey, Any]
    withdrawn: list[RecordKey]
    withdrawn_entities: dict[RecordKey, str]
    skip: set[RecordKey]  # the batch's records and the withdrawn ones


#: The stored rows sharing a token with a record whose entity may have changed (None while
#: the state's loose rows have no tokens yet); the tokens of the batch's re-linked records.
_ByToken = tuple[set[RecordKey] | None, dict[RecordKey, set[str]]]


def _in_child(state: State, func: Callable[[], _ByToken]) -> _ByToken | Exception:
    """``func`` in a forked child (its own connection to the state); an error is returned,
    for the parent to raise with its one-line message."""
    try:
        state.reconnect_in_child()
        return func()
    except Exception as exc:
        return exc


# The stored role, shareholding, branch and event rows whose resolution may have changed
# (loose ones, or pointing at a changed entity) are resolved again; they are found in two
# parts (the union is the same rows), by token (_by_token) and by changed entity (_by_id).
#
# Loose rows (by name, unresolved) are resolved again where they share a token with a
# record whose entity may have changed: the re-linked clusters' members (their new content)
# and what changed or withdrawn records said before. A state whose loose rows have no
# tokens yet resolves every loose row once, which gives them tokens. Rows pointing at an
# entity that kept its ID and exactly its records are resolved again only if a touched
# record shares an identifier with that entity's records (the identifier may have become
# ambiguous).


def _by_token(state: State, inputs: _StaleInputs, changes: dict[str, _Change]) -> _ByToken:
    """The loose rows sharing a token with the re-linked records (their content in this
    run) or with what changed or withdrawn records said before; the re-linked records'
    tokens kept for ``loose_tokens`` (the batch's)."""
    if state.meta(graphsync.TOKENS_META) != "1":
        return None, {}
    keyed = functools.cache(state.sealer.keyed_hash)  # (the run's salt is fixed)
    tokens: set[str] = set()
    tokens_of: dict[RecordKey, set[str]] = {}
    for ch in changes.values():
        for rec in ch.result.records:
            mine = name_tokens(rec) | identifier_tokens(rec, keyed)
            if rec.key in inputs.skip:  # (a record of the batch)
                tokens_of[rec.key] = mine
            tokens |= mine
    for rec in state.records_of(_before(inputs)):
        tokens |= mention_tokens(rec, keyed)
    return graphsync.stale_mentions(state.db, set(), inputs.skip, tokens), tokens_of


def _by_id(state: State, inputs: _StaleInputs, changes: dict[str, _Change]) -> set[RecordKey]:
    """The rows pointing at an entity the batch re-formed, merged (either side), retired or
    took a record from, but not at one that kept its ID and exactly its records unless a
    touched record shares an identifier with that entity's records; while the state's loose
    rows have no tokens, every loose row too."""
    withdrawn_ids = set(inputs.withdrawn_entities.values())
    changed = set(withdrawn_ids)
    for ch in changes.values():
        changed |= _changed_ids(ch)
    if state.meta(graphsync.TOKENS_META) != "1":
        return graphsync.stale_mentions(state.db, changed, inputs.skip, None)
    keyed = functools.cache(state.sealer.keyed_hash)
    # The identifier tokens of what the touched records say now and said before.
    touched_ids: set[str] = set()
    for rec in inputs.touched:
        touched_ids |= identifier_tokens(rec, keyed)
    for rec in state.records_of(_before(inputs)):
        touched_ids |= identifier_tokens(rec, keyed)
    same = {e for ch in changes.values() for e in ch.same}
    shared = {
        gid
        for ch in changes.values()
        for rec in ch.result.records
        if (gid := ch.gid_of[rec.key]) in same and identifier_tokens(rec, keyed) & touched_ids
    }
    recheck = changed - (same - shared - withdrawn_ids)
    return graphsync.stale_mentions(state.db, recheck, inputs.skip, set())


def _changed_ids(ch: _Change) -> set[str]:
    """The entities a kind's change re-formed, merged (both sides) or retired."""
    return {*(g.data["id"] for g in ch.goldens), *ch.merged, *ch.merged.values(), *ch.retired}


def _before(inputs: _StaleInputs) -> list[RecordKey]:
    """The stored entity records the batch changes or withdraws (their content as stored)."""
    return [r.key for r in inputs.touched if r.key in inputs.stored and r.kind in ENTITY_KINDS] + [
        k for k in inputs.withdrawn if k[1] in ENTITY_KINDS
    ]


def _moved_records(
    state: State,
    gid_of: dict[RecordKey, str],
    changes: dict[str, _Change],
    stored_entity: dict[RecordKey, str],
) -> int:
    """Records stored before this batch whose entity changes (not counting an ID that was
    merged into the record's new entity): they moved to another entity. ``stored_entity``:
    :meth:`State.entity_of` of ``gid_of``'s records."""
    merged: dict[str, str] = {}
    for ch in changes.values():
        merged.update(ch.merged)
    ends: dict[RecordKey, str] = {}
    for key, old in stored_entity.items():
        seen: set[str] = set()
        while old in merged and old not in seen:
            seen.add(old)
            old = merged[old]
        ends[key] = old
    # One read of the lifecycles of the stored IDs (not one per ID); an ID merged away
    # before this batch points where its redirects lead.
    status: dict[str, str] = {}
    ordered = sorted(set(ends.values()))
    for i in range(0, len(ordered), 500):
        chunk = ordered[i : i + 500]
        status.update(
            state.db.execute(
                f"SELECT id, status FROM entities WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
        )
    now_at = {old: state.resolve(old)[0] if status.get(old) == "merged" else old for old in ordered}
    return sum(1 for key, old in ends.items() if now_at[old] != gid_of[key])


def _restrict_to_batch(
    results: dict[str, KindResult], batch_keys: set[RecordKey], batch: list[Record]
) -> None:
    """links.csv lists the batch's records: replace each kind's record list (the re-linked
    subset) by the batch's records of that kind, keeping decisions where known."""
    by_key = {r.key: r for r in batch}
    for kind, res in results.items():
        decision = {rec.key: (res.decision[i], res.score[i]) for i, rec in enumerate(res.records)}
        recs = [by_key[k] for k in sorted(batch_keys) if by_key[k].kind == kind]
        res.records = recs
        res.decision = [decision.get(r.key, ("unchanged", 1.0))[0] for r in recs]
        res.score = [decision.get(r.key, ("unchanged", 1.0))[1] for r in recs]
