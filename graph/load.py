"""``credgraph load RUN_DIR``: a resolution run (Contract 2 files) into the graph (Contract 3).

Idempotent (MERGE on ``uid``; loading the same run twice changes nothing), batched (UNWIND,
``batch_size`` rows a statement) and resumable: a checkpoint in the run directory records
each completed step, so a load killed half-way continues where it stopped (re-running a step
is harmless anyway, MERGE being idempotent). Merged golden IDs (``redirects.jsonl`` of a
stateful run) become redirect nodes (``merged_into``) that look-ups follow.
Only ``graph/`` touches the store; this module reads the run's files, never resolver code.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph import queries
from graph.dialect import ensure_schema, label
from graph.store import GraphStore
from resolver.csvsafe import read_rows

CHECKPOINT = ".graph-load.json"
EVENT_LABELS = {"credit_event": "CreditEvent", "fact": "Fact", "tax_declaration": "TaxDeclaration"}
#: The properties an event node carries: its standardised facts (the subject's identifiers
#: live on the subject; raw rows stay in the run's events.jsonl).
EVENT_PROPERTIES = (
    "event_type",
    "decision_no",
    "authority",
    "date",
    "severity",
    "amount",
    "publicity_until",
    "description",
    "fact_type",
    "period",
    "period_start",
    "period_end",
    "quantity",
    "unit",
    "reference",
    "tax_type",
    "taxable_amount",
    "tax_paid",
)
LoadProgress = Callable[[str, int], None]


@dataclass(slots=True)
class LoadSummary:
    steps_done: int = 0
    steps_skipped: int = 0
    rows: Counter[str] = field(default_factory=Counter)
    skipped_unresolved: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    nodes: dict[str, int] = field(default_factory=dict)
    relationships: dict[str, int] = field(default_factory=dict)


def _primitive(v: Any) -> bool:
    return (
        v is None
        or isinstance(v, (str, int, float, bool))
        or (isinstance(v, list) and all(isinstance(x, (str, int, float, bool)) for x in v))
    )


def _props(d: dict[str, Any]) -> dict[str, Any]:
    """Properties must be primitives or lists of primitives (no maps) on both backends."""
    return {k: v for k, v in d.items() if v is not None and _primitive(v)}


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    if path.exists():
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)


def _fault(point: str) -> None:
    if os.environ.get("CREDGRAPH_FAULT_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


def plan(run_dir: Path) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """The load as (step name, query, rows) in dependency order: nodes before relationships."""
    steps: list[tuple[str, str, list[dict[str, Any]]]] = []
    enterprises: list[dict[str, Any]] = []
    persons: list[dict[str, Any]] = []
    addresses: dict[str, dict[str, Any]] = {}
    phones: dict[str, dict[str, Any]] = {}
    located: list[dict[str, Any]] = []
    uses_phone: list[dict[str, Any]] = []
    kind_of: dict[str, str] = {}
    for g in _jsonl(run_dir / "golden.jsonl"):
        attrs = g.get("attributes", {})
        props = _props(
            {
                **attrs,
                "status": g.get("status", "active"),
                "id_hash": g.get("id_hash"),
                "id_masked": g.get("id_masked"),
                "members": len(g.get("members", [])),
            }
        )
        lab = "Enterprise" if g["type"] == "Enterprise" else "Person"
        kind_of[g["id"]] = lab
        (enterprises if lab == "Enterprise" else persons).append({"uid": g["id"], "props": props})
        if lab == "Enterprise":
            if attrs.get("address"):
                addresses[attrs["address"]] = {
                    "uid": attrs["address"],
                    "props": {"text": attrs["address"]},
                }
                located.append({"src": g["id"], "dst": attrs["address"], "props": {}})
            if attrs.get("phone"):
                phones[attrs["phone"]] = {
                    "uid": attrs["phone"],
                    "props": {"number": attrs["phone"]},
                }
                uses_phone.append({"src": g["id"], "dst": attrs["phone"], "props": {}})
    steps.append(
        ("nodes:Enterprise", queries.MERGE_NODES.format(label=label("Enterprise")), enterprises)
    )
    steps.append(("nodes:Person", queries.MERGE_NODES.format(label=label("Person")), persons))
    steps.append(
        (
            "nodes:Address",
            queries.MERGE_NODES.format(label=label("Address")),
            list(addresses.values()),
        )
    )
    steps.append(
        ("nodes:Phone", queries.MERGE_NODES.format(label=label("Phone")), list(phones.values()))
    )
    sources: list[dict[str, Any]] = []
    resolved: dict[str, list[dict[str, Any]]] = {"Enterprise": [], "Person": []}
    links = run_dir / "links.csv"
    report_path = run_dir / "report.json"
    batch_id = (
        json.loads(report_path.read_text("utf-8")).get("batch_id") if report_path.exists() else None
    )
    if links.exists():
        with links.open(encoding="utf-8", newline="") as fh:
            for row in read_rows(fh):
                if row["kind"] not in ("enterprise", "person") or not row["entity_id"]:
                    continue
                uid = f"{row['dept']}|{row['record_id']}"
                sources.append(
                    {
                        "uid": uid,
                        "props": _props(
                            {
                                "dept": row["dept"],
                                "record_id": row["record_id"],
                                "batch_id": batch_id,
                            }
                        ),
                    }
                )
                # How the record was resolved (score, decision) sits on the relationship.
                resolved["Enterprise" if row["kind"] == "enterprise" else "Person"].append(
                    {
                        "src": uid,
                        "dst": row["entity_id"],
                        "props": {"score": float(row["score"] or 0), "decision": row["decision"]},
                    }
                )
    steps.append(
        ("nodes:SourceRecord", queries.MERGE_NODES.format(label=label("SourceRecord")), sources)
    )
    for lab, rows in resolved.items():
        steps.append(
            (f"rels:RESOLVED_TO:{lab}", queries.MERGE_RESOLVED_TO.format(label=label(lab)), rows)
        )
    steps.append(
        (
            "rels:LOCATED_AT",
            queries.MERGE_REL.format(from_label="Enterprise", to_label="Address", rel="LOCATED_AT"),
            located,
        )
    )
    steps.append(
        (
            "rels:USES_PHONE",
            queries.MERGE_REL.format(from_label="Enterprise", to_label="Phone", rel="USES_PHONE"),
            uses_phone,
        )
    )
    # Several departments report the same relationship: one row per relationship, its
    # properties taken source by source in a fixed order, all sources listed — so the
    # result does not depend on row order and a second load changes nothing.
    grouped: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for e in _jsonl(run_dir / "edges.jsonl"):
        if not e.get("from") or not e.get("to"):
            continue
        src_label = kind_of.get(e["from"]) or (
            "Person" if e["from"].startswith("P") else "Enterprise"
        )
        grouped.setdefault((src_label, e["type"], e["from"], e["to"]), []).append(e)
    rels: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for (src_label, rel, a, b), group in sorted(grouped.items()):
        group.sort(key=lambda e: (e["source"]["dept"], e["source"]["record_id"]))
        merged: dict[str, Any] = {}
        for e in group:
            for k in ("role", "ratio", "amount", "start", "end"):
                if e.get(k) is not None and k not in merged:
                    merged[k] = e[k]
        merged["sources"] = [f"{e['source']['dept']}|{e['source']['record_id']}" for e in group]
        rels.setdefault((src_label, rel, "Enterprise"), []).append(
            {"src": a, "dst": b, "props": _props(merged)}
        )
    for (src_label, rel, dst_label), rows in sorted(rels.items()):
        steps.append(
            (
                f"rels:{rel}:{src_label}",
                queries.MERGE_REL.format(from_label=label(src_label), to_label=dst_label, rel=rel),
                rows,
            )
        )
    events: dict[str, list[dict[str, Any]]] = {}
    subject_of: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for ev in _jsonl(run_dir / "events.jsonl"):
        lab = EVENT_LABELS[ev["kind"]]
        uid = f"{ev['source']['dept']}|{ev['source']['record_id']}"
        raw_values = ev.get("values", {})
        values = _props({k: raw_values.get(k) for k in EVENT_PROPERTIES})
        if raw_values.get("name"):
            values["subject_name"] = raw_values["name"]
        events.setdefault(lab, []).append(
            {
                "uid": uid,
                "props": {
                    **values,
                    "dept": ev["source"]["dept"],
                    "record_id": ev["source"]["record_id"],
                },
            }
        )
        if ev.get("subject"):
            subject_of.setdefault((ev.get("subject_type") or "Enterprise", lab), []).append(
                {"src": ev["subject"], "dst": uid, "props": {}}
            )
    for lab, rows in sorted(events.items()):
        steps.append((f"nodes:{lab}", queries.MERGE_NODES.format(label=label(lab)), rows))
    for (subj, lab), rows in sorted(subject_of.items()):
        steps.append(
            (
                f"rels:SUBJECT_OF:{subj}:{lab}",
                queries.MERGE_REL.format(
                    from_label=label(subj), to_label=label(lab), rel="SUBJECT_OF"
                ),
                rows,
            )
        )
    redirects: dict[str, list[dict[str, Any]]] = {}
    for r in _jsonl(run_dir / "redirects.jsonl"):
        lab = "Enterprise" if r["old"].startswith("E") else "Person"
        redirects.setdefault(lab, []).append({"old": r["old"], "new": r["new"]})
    for lab, rows in sorted(redirects.items()):
        steps.append(
            (
                f"redirect:nodes:{lab}",
                queries.MERGE_NODES.format(label=label(lab)),
                [{"uid": r["old"], "props": {}} for r in rows],
            )
        )
        steps.append(
            (f"redirect:detach:{lab}", queries.DETACH_MERGED.format(label=label(lab)), rows)
        )
        steps.append((f"redirect:mark:{lab}", queries.MARK_MERGED.format(label=label(lab)), rows))
    return steps


def load_run(
    store: GraphStore, run_dir: Path, batch_size: int = 5000, progress: LoadProgress | None = None
) -> LoadSummary:
    """Load a run directory into the store (see the module docstring)."""
    t0 = time.perf_counter()
    summary = LoadSummary()
    ensure_schema(store)
    ckpt_path = run_dir / CHECKPOINT
    checkpoint: dict[str, Any] = (
        json.loads(ckpt_path.read_text("utf-8")) if ckpt_path.exists() else {}
    )
    done_steps: dict[str, int] = checkpoint.get("steps", {})
    for name, query, rows in plan(run_dir):
        start = done_steps.get(name, 0)
        if start >= len(rows) and name in done_steps:
            summary.steps_skipped += 1
            continue
        for i, chunk, text in _prepared(store, query, rows, start, batch_size):
            if text is None:
                store.run(query, {"rows": chunk})
            else:
                store.run_prepared(text, query)  # type: ignore[attr-defined]
            done_steps[name] = i + len(chunk)
            ckpt_path.write_text(json.dumps({"steps": done_steps}), "utf-8")
            summary.rows[name] += len(chunk)
            _fault(f"load:{name}")
            if progress:
                progress(name, len(chunk))
        done_steps.setdefault(name, 0)
        ckpt_path.write_text(json.dumps({"steps": done_steps}), "utf-8")
        summary.steps_done += 1
    ckpt_path.unlink(missing_ok=True)  # a complete load needs no checkpoint
    summary.nodes = {r["label"]: r["n"] for r in store.read(queries.COUNT_NODES)}
    summary.relationships = {r["rel"]: r["n"] for r in store.read(queries.COUNT_RELS)}
    summary.seconds = time.perf_counter() - t0
    return summary


def _prepared(
    store: GraphStore, query: str, rows: list[dict[str, Any]], start: int, batch_size: int
) -> Iterator[tuple[int, list[dict[str, Any]], str | None]]:
    """Batches with their statement text rendered one batch ahead in a helper thread, so that
    rendering parameters (Python) overlaps the server executing the previous batch."""
    starts = list(range(start, len(rows), batch_size))
    if not hasattr(store, "prepare"):
        for i in starts:
            yield i, rows[i : i + batch_size], None
        return
    prepare = store.prepare
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for k, i in enumerate(starts):
            if pending is None:
                pending = pool.submit(prepare, query, {"rows": rows[i : i + batch_size]})
            text = pending.result()
            nxt = starts[k + 1] if k + 1 < len(starts) else None
            pending = (
                pool.submit(prepare, query, {"rows": rows[nxt : nxt + batch_size]})
                if nxt is not None
                else None
            )
            yield i, rows[i : i + batch_size], text


def resolve_uid(store: GraphStore, uid: str) -> str:
    """Follow ``merged_into`` redirects to the current node's uid."""
    lab = "Enterprise" if uid.startswith("E") else "Person"
    current = uid
    for _ in range(100):
        rows = store.read(queries.ENTITY_BY_UID.format(label=label(lab)), {"uid": current})
        if not rows or not rows[0]["merged_into"]:
            return current
        current = rows[0]["merged_into"]
    return current
