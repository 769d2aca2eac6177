"""Benchmark: `credgraph credit check` of 10,000 names/USCCs against a 100k-enterprise graph
(goal ≤ 10 s) and the credit profile of one enterprise from the graph (goal p99 ≤ 20 ms).

The graph is built directly from the generator's population (enterprises with their USCCs,
names and former names, legal representatives with role terms, credit events of every
catalog type with repairs), not through link + load: this measures credit/, not linkage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import shutil
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.results import record, run_tree_measured

ROOT = Path(__file__).resolve().parent / "out"
AS_OF = dt.date(2026, 11, 1)


WRITE_EVENTS = (
    "UNWIND $rows AS r MATCH (e:Enterprise {uid: r.subject}) "
    "CREATE (e)-[:SUBJECT_OF]->(c:CreditEvent {uid: r.uid}) SET c += r.props"
)


def credit_events(n_enterprises: int, rng: random.Random, types: list[Any]) -> list[dict[str, Any]]:
    """Credit events of every catalog type for enterprises ``E000000000…`` (about one in three
    has some; a fifth of the list events are repaired later)."""
    events: list[dict[str, Any]] = []
    for i in range(n_enterprises):
        for _ in range(rng.choice((0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 4))):
            et = rng.choice(types)
            date = AS_OF - dt.timedelta(days=rng.randint(10, 1800))
            uid = f"BENCH|{len(events)}"
            events.append(
                {
                    "subject": f"E{i:09d}",
                    "uid": uid,
                    "props": {
                        "event_type": et.key,
                        "dept": et.department,
                        "record_id": uid,
                        "decision_no": f"决〔{date.year}〕{len(events)}号",
                        "date": date.isoformat(),
                        "severity": et.severity or "轻微",
                    },
                }
            )
            if et.list_type and rng.random() < 0.2:
                rdate = min(AS_OF, date + dt.timedelta(days=rng.randint(30, 700)))
                events.append(
                    {
                        "subject": f"E{i:09d}",
                        "uid": f"BENCH|R{len(events)}",
                        "props": {
                            "event_type": "信用修复",
                            "dept": et.department,
                            "record_id": f"R{len(events)}",
                            "decision_no": events[-1]["props"]["decision_no"],
                            "date": rdate.isoformat(),
                        },
                    }
                )
    return events


def build_graph(uri: str, n_enterprises: int, seed: int) -> tuple[list[dict[str, Any]], int]:
    """Write the population's enterprises, persons, roles and credit events; returns the
    enterprise rows and the number of events."""
    from credit.catalog import default_catalog
    from fixtures.population import build_population
    from graph.dialect import ensure_schema
    from graph.store import open_store

    pop = build_population(n_enterprises, n_enterprises // 2, seed)
    rng = random.Random(seed)
    types = [et for et in default_catalog().event_types.values() if et.category != "repair"]
    store = open_store(uri)
    try:
        ensure_schema(store)
        ents = [
            {
                "uid": f"E{i:09d}",
                "props": {
                    "uscc": e.uscc,
                    "name": e.name,
                    **({"former_name": e.former_name} if e.former_name else {}),
                    "registration_status": e.status,
                    "established": e.established.isoformat(),
                    "legal_rep_name": pop.persons[e.legal_rep].name,
                },
            }
            for i, e in enumerate(pop.enterprises)
        ]
        persons = [
            {
                "uid": f"P{i:09d}",
                "props": {"name": p.name, "id_masked": p.id18[:4] + "*" * 10 + p.id18[-4:]},
            }
            for i, p in enumerate(pop.persons)
        ]
        store.write_batch(
            "UNWIND $rows AS r MERGE (n:Enterprise {uid: r.uid}) SET n += r.props", ents
        )
        store.write_batch(
            "UNWIND $rows AS r MERGE (n:Person {uid: r.uid}) SET n += r.props", persons
        )
        roles: list[dict[str, Any]] = [
            {
                "src": f"P{pidx:09d}",
                "dst": f"E{i:09d}",
                "props": {"role": role, "start": e.established.isoformat()},
            }
            for i, e in enumerate(pop.enterprises)
            for pidx, role in e.roles
        ]
        rel = (
            "UNWIND $rows AS r MATCH (a:Person {uid: r.src}) MATCH (b:Enterprise {uid: r.dst}) "
            "MERGE (a)-[x:{rel}]->(b) SET x = r.props"
        )
        store.write_batch(
            rel.replace("{rel}", "LEGAL_REP_OF"),
            [
                r
                for r in roles
                if r["props"]["role"] in ("法定代表人", "负责人", "经营者", "理事长")
            ],
        )
        store.write_batch(
            rel.replace("{rel}", "SERVES_AS"),
            [
                r
                for r in roles
                if r["props"]["role"] not in ("法定代表人", "负责人", "经营者", "理事长")
            ],
        )
        events = credit_events(len(pop.enterprises), rng, types)
        store.write_batch(WRITE_EVENTS, events)
        from graph import marker

        marker.mark(store, "bench credit_check graph")  # as a load would leave it
    finally:
        store.close()
    return ents, len(events)


def inputs(ents: list[dict[str, Any]], n: int, seed: int) -> list[str]:
    """What procurement offices type: USCCs (some mistyped), names as registered, 有限责任公司
    variants, names without their place prefix, and firms that are not in the graph."""
    rng = random.Random(seed + 1)
    out = []
    for k in range(n):
        e = rng.choice(ents)["props"]
        r = k % 10
        if r < 4:
            u = e["uscc"]
            out.append(u if rng.random() > 0.05 else u[:-1] + ("0" if u[-1] != "0" else "1"))
        elif r < 7:
            out.append(e["name"])
        elif r < 8:
            out.append(e["name"].replace("有限公司", "有限责任公司"))
        elif r < 9:
            out.append(e["name"][3:])
        else:
            out.append(f"不存在{rng.randint(1, 10**9)}贸易有限公司")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--enterprises", type=int, default=100_000)
    ap.add_argument("--inputs", type=int, default=10_000)
    ap.add_argument("--profiles", type=int, default=1_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--build-only", action="store_true", help="Build the graph and stop.")
    ap.add_argument(
        "--reuse-graph",
        action="store_true",
        help="Measure on the graph a --build-only run left in bench/out (the build is not timed).",
    )
    args = ap.parse_args()

    from credit.service import credit_profile
    from graph import server
    from graph.store import open_store

    data = ROOT / "credit_graph"
    saved = ROOT / "credit_graph.json"
    reuse = args.reuse_graph and saved.exists() and (data / "graph.rdb").exists()
    if not reuse:
        shutil.rmtree(data, ignore_errors=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    info = server.start(data, port, timeout=600)
    try:
        t0 = time.perf_counter()
        if reuse:
            ents, n_events, built = json.loads(saved.read_text("utf-8"))
        else:
            ents, n_events = build_graph(info.uri, args.enterprises, args.seed)
            built = time.perf_counter() - t0
            saved.write_text(json.dumps([ents, n_events, built]), "utf-8")
        if args.build_only:
            print(f"built {len(ents):,} enterprises, {n_events:,} events in {built:.0f} s")
            return
        lines = inputs(ents, args.inputs, args.seed)
        infile = ROOT / "credit_check_inputs.txt"
        infile.write_text("\n".join(lines) + "\n", "utf-8")
        credgraph = str(Path(sys.executable).with_name("credgraph"))
        outfile = ROOT / "credit_check_result.csv"
        cmd = [credgraph, "credit", "check", str(infile), "--as-of", AS_OF.isoformat()]
        # the embedded server by its data directory: a URI with the password is refused on a
        # command line
        cmd += ["--format", "csv", "--out", str(outfile), "--data-dir", str(data)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        run = run_tree_measured(cmd)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        load = os.getloadavg()[0]
        rows = outfile.read_text("utf-8").splitlines()[1:]
        matches: dict[str, int] = {}
        hits = 0
        for row in rows:
            fields = row.split(",")
            matches[fields[3]] = matches.get(fields[3], 0) + 1
            hits += fields[4] == "yes"
        store = open_store(info.uri)
        try:
            rng = random.Random(args.seed + 2)
            with_events = [
                r["uid"]
                for r in store.read(
                    "MATCH (e:Enterprise)-[:SUBJECT_OF]->(:CreditEvent) RETURN DISTINCT e.uid AS uid"
                )
            ]
            sample = [
                rng.choice(with_events) if k % 2 else rng.choice(ents)["uid"]
                for k in range(args.profiles)
            ]
            for uid in sample[:20]:  # warm the connection and caches
                credit_profile(store, uid, AS_OF)
            times = []
            for uid in sample:
                t = time.perf_counter()
                credit_profile(store, uid, AS_OF)
                times.append((time.perf_counter() - t) * 1000)
            by_uscc = []
            uscc_of = {e["uid"]: str(e["props"]["uscc"]) for e in ents}
            for uid in sample[:200]:
                uscc = uscc_of[uid]
                t = time.perf_counter()
                credit_profile(store, uscc, AS_OF)
                by_uscc.append((time.perf_counter() - t) * 1000)
        finally:
            store.close()
    finally:
        server.stop(data)
        if not (args.build_only or args.reuse_graph):
            shutil.rmtree(data, ignore_errors=True)
            saved.unlink(missing_ok=True)
    q = statistics.quantiles(times, n=100)
    qu = statistics.quantiles(by_uscc, n=100)
    record(
        "Credit: credgraph credit check and credit profile",
        f"python -m bench.credit_check --enterprises {args.enterprises} --inputs {args.inputs}"
        + (" --reuse-graph" if reuse else ""),
        [
            f"- graph: {len(ents):,} enterprises, {len(ents) // 2:,} persons, {n_events:,} credit events "
            f"(every catalog type, repairs), built directly from the generator's population in {built:.1f} s"
            + (" (a --build-only run, outside the benchmark lock)" if reuse else ""),
            f"- `credgraph credit check` of {len(lines):,} lines (40 % USCCs with 5 % mistyped, 30 % names, "
            f"10 % 有限责任公司 variants, 10 % without place prefix, 10 % unknown): **{run.seconds:.1f} s** wall "
            f"for the whole command (start-up, index of {len(ents):,} enterprises, matching, hits) (goal ≤ 10 s); "
            f"CPU time of the command {cpu:.1f} s (the machine's load average was {load:.1f} on "
            f"{os.cpu_count()} cores: wall time includes waiting for a core); "
            f"peak memory (process tree) {run.peak_rss_mib:,.0f} MiB",
            f"  - matches: {', '.join(f'{k} {v:,}' for k, v in sorted(matches.items()))}; hits {hits:,}",
            f"- credit profile of one enterprise by golden ID ({len(times):,} profiles, half with events): "
            f"p50 **{statistics.median(times):.1f} ms**, p99 **{q[98]:.1f} ms** (goal p99 ≤ 20 ms)",
            f"- by USCC (200 profiles): p50 {statistics.median(by_uscc):.1f} ms, p99 {qu[98]:.1f} ms",
        ],
    )


if __name__ == "__main__":
    main()
