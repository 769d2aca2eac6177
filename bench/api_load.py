"""Benchmark: the GraphQL API under a steady 200 requests/s on loopback.

Builds a graph of ``--enterprises`` golden enterprises (default 100,000) from the project's
population generator (fixtures/population.py) written straight into a fresh embedded graph
server as golden nodes with their legal representatives, shareholdings and credit events
(bench/credit_check.py's; the linker is not what is measured here; ``--build-only`` builds
it and stops, so that a later ``--reuse-graph`` run holds the benchmark lock only to measure), starts ``credgraph serve`` on a free port, and runs the load
generator in a separate process: open loop at ``--rate`` requests/s, bounded by
``--requests`` and ``--max-seconds``. Records p50/p95/p99 per query to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out" / "api_load"
SEARCH = """query Search($t: String!) { search(text: $t, first: 20) {
  totalCount edges { node { ... on Enterprise { uid name uscc registrationStatus } } } } }"""
PROFILE = """query Profile($u: String!) { creditProfile(uid: $u) {
  entityId name grade score explanation { points reason } blackLists { listType measures {
  dept measure } } penalties { decisionNo date } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_graph(uri: str, n_enterprises: int, seed: int) -> tuple[list[str], list[str]]:
    """Write the population as golden nodes; returns (enterprise uids, trade names)."""
    from bench.credit_check import WRITE_EVENTS, credit_events
    from credit.catalog import default_catalog
    from fixtures.population import build_population
    from graph import queries
    from graph.dialect import ensure_schema
    from graph.store import open_store
    from resolver.standardize.identifiers import uscc_org_code

    pop = build_population(n_enterprises, int(n_enterprises * 1.4), seed)
    store = open_store(uri)
    try:
        ensure_schema(store)
        ents: list[dict[str, Any]] = []
        persons: list[dict[str, Any]] = []
        reps: list[dict[str, Any]] = []
        shares: list[dict[str, Any]] = []
        for i, p in enumerate(pop.persons):
            persons.append(
                {
                    "uid": f"P{i:09d}",
                    "props": {
                        "name": p.name,
                        "gender": p.gender,
                        "id_masked": p.id18[:4] + "*" * 10 + p.id18[-4:],
                        "lifecycle": "active",
                    },
                }
            )
        for i, e in enumerate(pop.enterprises):
            props: dict[str, Any] = {
                "name": e.name,
                "uscc": e.uscc,
                "org_code": uscc_org_code(e.uscc),
                "legal_rep_name": pop.persons[e.legal_rep].name,
                "address": e.address.full(),
                "established": e.established.isoformat(),
                "reg_capital": float(e.reg_capital_wan * 10_000),
                "industry": e.industry,
                "registration_status": e.status,
                "lifecycle": "active",
            }
            if e.reg_no:
                props["reg_no"] = e.reg_no
            if e.former_name:
                props["former_names"] = [e.former_name]
            ents.append({"uid": f"E{i:09d}", "props": props})
            reps.append(
                {"src": f"P{e.legal_rep:09d}", "dst": f"E{i:09d}", "props": {"role": "法定代表人"}}
            )
            for kind, idx, ratio in e.holders:
                src = f"P{idx:09d}" if kind == "P" else f"E{idx:09d}"
                shares.append(
                    {"src": src, "dst": f"E{i:09d}", "props": {"ratio": ratio}, "kind": kind}
                )
        store.write_batch(queries.MERGE_NODES.format(label="Enterprise"), ents)
        store.write_batch(queries.MERGE_NODES.format(label="Person"), persons)
        store.write_batch(
            queries.MERGE_REL.format(
                from_label="Person", to_label="Enterprise", rel="LEGAL_REP_OF"
            ),
            reps,
        )
        for kind, lab in (("P", "Person"), ("E", "Enterprise")):
            store.write_batch(
                queries.MERGE_REL.format(from_label=lab, to_label="Enterprise", rel="HOLDS_SHARES"),
                [s for s in shares if s["kind"] == kind],
            )
        types = [et for et in default_catalog().event_types.values() if et.category != "repair"]
        store.write_batch(WRITE_EVENTS, credit_events(len(ents), random.Random(seed + 1), types))
    finally:
        store.close()
    return [e["uid"] for e in ents], sorted({e.trade_name for e in pop.enterprises})


async def _load(
    url: str, token: str, plan: list[tuple[str, dict[str, Any]]], rate: float, max_s: float
) -> list[tuple[str, float, int]]:
    import httpx2

    results: list[tuple[str, float, int]] = []
    limits = httpx2.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx2.AsyncClient(base_url=url, limits=limits, timeout=10) as client:
        headers = {"Authorization": f"Bearer {token}"}

        async def one(name: str, body: dict[str, Any]) -> None:
            t0 = time.perf_counter()
            try:
                r = await client.post("/graphql", json=body, headers=headers)
                status = r.status_code if "errors" not in r.json() else 599
            except httpx2.HTTPError:
                status = 0
            results.append((name, (time.perf_counter() - t0) * 1000, status))

        start = time.perf_counter()
        tasks = []
        for k, (name, body) in enumerate(plan):
            due = start + k / rate
            now = time.perf_counter()
            if now - start > max_s:
                break
            if due > now:
                await asyncio.sleep(due - now)
            tasks.append(asyncio.create_task(one(name, body)))
        await asyncio.gather(*tasks)
    return results


def generator_main(args: argparse.Namespace) -> None:
    """The load generator (a separate process): reads its plan, prints its results and its
    own CPU time (it shares the cores with the server it measures)."""
    spec = json.loads(Path(args.plan).read_text("utf-8"))
    cpu0, t0 = time.process_time(), time.perf_counter()
    if spec["client"] == "httpx":
        res = asyncio.run(
            _load(spec["url"], spec["token"], spec["plan"], spec["rate"], spec["max_seconds"])
        )
    else:
        from bench import loadgen

        headers = {"Authorization": f"Bearer {spec['token']}"}
        plan = [
            loadgen.Request(name, loadgen.encode_post(spec["url"], "/graphql", body, headers))
            for name, body in spec["plan"]
        ]
        cpu0, t0 = time.process_time(), time.perf_counter()
        res = loadgen.run(spec["url"], plan, spec["rate"], spec["max_seconds"])
    wall = time.perf_counter() - t0
    print(json.dumps({"results": res, "cpu_s": time.process_time() - cpu0, "wall_s": wall}))


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--enterprises", type=int, default=100_000)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--requests", type=int, default=6000)
    ap.add_argument("--max-seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--reuse-graph",
        action="store_true",
        help="Serve the graph a previous run left in bench/out/api_load (skips the build).",
    )
    ap.add_argument("--build-only", action="store_true", help="Build the graph and stop.")
    ap.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="The generator's HTTP client: raw = bench/loadgen.py (httptools over keep-alive "
        "connections, little CPU), httpx = the httpx2 client of the earlier figures.",
    )
    ap.add_argument("--generator", help=argparse.SUPPRESS)  # the child process's plan file
    ap.add_argument("--plan", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.plan:
        generator_main(args)
        return
    from api.keys import KeyStore
    from bench.results import record
    from graph import server

    reuse = args.reuse_graph and (OUT / "terms.json").exists()
    if not reuse:
        shutil.rmtree(OUT, ignore_errors=True)
        OUT.mkdir(parents=True)
    shutil.rmtree(OUT / "api", ignore_errors=True)
    info = server.start(OUT / "graph", _free_port(), timeout=600)
    serve = None
    try:
        t0 = time.perf_counter()
        if reuse:
            uids, trades = json.loads((OUT / "terms.json").read_text("utf-8"))
        else:
            uids, trades = build_graph(info.uri, args.enterprises, args.seed)
            (OUT / "terms.json").write_text(json.dumps([uids, trades]), "utf-8")
        build_s = time.perf_counter() - t0
        from graph import marker
        from graph.store import open_store

        store = open_store(info.uri)
        try:  # a version for the API's caches to key on, as a load would leave
            marker.mark(store, "bench api_load graph")
        finally:
            store.close()
        if args.build_only:
            print(f"built {len(uids):,} enterprises in {build_s:.0f} s")
            return
        port = _free_port()
        api_dir = OUT / "api"
        api_dir.mkdir(mode=0o700)
        token = KeyStore(api_dir / "keys.db").create("admin", "bench")[1]
        credgraph = str(Path(sys.executable).with_name("credgraph"))
        serve = subprocess.Popen(
            [
                credgraph,
                "serve",
                "--port",
                str(port),
                "--uri",
                info.uri,
                "--data-dir",
                str(api_dir),
                "--state",
                str(OUT / "state"),
                "--rate-limit",
                "100000/second",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import httpx2

        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx2.get(url + "/readyz").status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            time.sleep(0.1)
        # One search before the clock starts: the server builds its name index on first use.
        httpx2.post(
            url + "/graphql",
            json={"query": SEARCH, "variables": {"t": trades[0]}},
            headers={"Authorization": f"Bearer {token}"},
            timeout=300,
        )
        rng = random.Random(args.seed)
        plan = []
        for k in range(args.requests):
            if k % 2:
                plan.append(("search", {"query": SEARCH, "variables": {"t": rng.choice(trades)}}))
            else:
                plan.append(("profile", {"query": PROFILE, "variables": {"u": rng.choice(uids)}}))
        plan_file = OUT / "plan.json"
        plan_file.write_text(
            json.dumps(
                {
                    "url": url,
                    "token": token,
                    "plan": plan,
                    "rate": args.rate,
                    "max_seconds": args.max_seconds,
                    "client": args.client,
                }
            ),
            "utf-8",
        )
        cpu_before = {"api": _cpu_s(serve.pid), "graph": _cpu_s(info.pid)}
        t1 = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-m", "bench.api_load", "--plan", str(plan_file)],
            check=True,
            capture_output=True,
            text=True,
            timeout=args.max_seconds + 60,
        )
        wall = time.perf_counter() - t1
        cpu = {
            k: _cpu_s(pid) - cpu_before[k] for k, pid in (("api", serve.pid), ("graph", info.pid))
        }
        load_avg = os.getloadavg()
        out = json.loads(child.stdout)
        results = out["results"]
        cpu["generator"] = out["cpu_s"]
        wall = out["wall_s"]
    finally:
        if serve is not None:
            serve.send_signal(signal.SIGINT)
            serve.wait(timeout=30)
        server.stop(OUT / "graph")
    n_req = max(1, len(results))
    lines = [
        f"- graph: {len(uids):,} enterprises (population generator, written as golden nodes with "
        "legal representatives, shareholdings and bench/credit_check.py's credit events)"
        + (
            " built beforehand by `--build-only` (outside the benchmark lock)"
            if reuse
            else f" built in {build_s:.0f} s"
        ),
        f"- load: {len(results):,} requests at a target of {args.rate:.0f} req/s from a separate "
        f"process over loopback HTTP in {wall:.1f} s (achieved {len(results) / wall:.0f} req/s); "
        f"machine load average at the end {load_avg[0]:.1f} (other work shares the 2 cores); "
        "latencies of the answered requests",
        f"- CPU per request during the load: API server {cpu['api'] / n_req * 1000:.2f} ms, "
        f"graph server {cpu['graph'] / n_req * 1000:.2f} ms, load generator "
        f"{cpu['generator'] / n_req * 1000:.2f} ms (`--client {args.client}`)",
    ]
    goals = {"profile": 50.0, "search": 100.0}
    for name in ("profile", "search"):
        ms = [r[1] for r in results if r[0] == name and r[2] == 200]
        bad = sum(1 for r in results if r[0] == name and r[2] != 200)
        kinds = sorted({r[2] for r in results if r[0] == name and r[2] != 200})
        if not ms:
            lines.append(f"- {name}: no successful requests ({bad} failed, statuses {kinds})")
            continue
        lines.append(
            f"- {name}: {len(ms):,} ok, {bad} failed (statuses {kinds}; 0 = no answer in 10 s); p50 {_pct(ms, 0.5):.1f} ms, "
            f"p95 {_pct(ms, 0.95):.1f} ms, **p99 {_pct(ms, 0.99):.1f} ms** (goal p99 ≤ {goals[name]:.0f} ms)"
        )
    lines.append(
        "- profile = `creditProfile(uid) { entityId name grade score explanation blackLists "
        "penalties }` (credit/service.py over the app's async store; a third of the enterprises "
        "have credit events); search = `search(text, first: 20) { totalCount edges { node } }`"
    )
    cmd = (
        f"python -m bench.api_load --enterprises {args.enterprises} --rate {args.rate:g} "
        f"--requests {args.requests}"
        + (" --reuse-graph" if reuse else "")
        + (f" --client {args.client}" if args.client != "raw" else "")
    )
    record(f"API: GraphQL under load (api_load, {args.rate:g} req/s)", cmd, lines)
    os.sync()


if __name__ == "__main__":
    main()
