"""The linkage worker process: ``python -m api.jobs.worker JOBS_DB JOB_ID``.

Links the job's batch into its state, then loads the run into the graph named by
``CREDGRAPH_GRAPH_URI`` (passed in the environment, never on the command line), writing
its stage and progress to the job row. Errors end the job as ``failed`` with a one-line
reason; no traceback is stored.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def run(db_path: Path, job_id: str, graph_uri: str) -> int:
    from api.jobs import store
    from graph.load import load_run
    from graph.store import open_store
    from resolver.state.incremental import run_link_stateful

    db = store.connect(db_path)
    job = store.get(db, job_id)
    if job is None:
        print(f"no job {job_id}", file=sys.stderr)
        return 2
    last = [0.0]

    def link_progress(msg: str, done: int, total: int) -> None:
        t = time.monotonic()
        if t - last[0] > 0.2 or (total and done >= total):
            last[0] = t
            store.update(db, job_id, stage=f"link: {msg}", done=done, total=total)

    loaded = [0]

    def load_progress(step: str, rows: int) -> None:
        loaded[0] += rows
        store.update(db, job_id, stage=f"load: {step}", done=loaded[0], total=0)

    try:
        store.update(db, job_id, status="running", stage="link: starting")
        run_link_stateful(
            Path(job["batch_path"]),
            Path(job["run_dir"]),
            Path(job["state_dir"]),
            None,
            link_progress,
        )
        graph = open_store(graph_uri)
        try:
            load_run(graph, Path(job["run_dir"]), progress=load_progress)
        finally:
            graph.close()
    except Exception as exc:  # the job fails with its reason; the server stays up
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
        store.update(db, job_id, status="failed", finished_at=store.now(), error=reason)
        return 1
    store.update(db, job_id, status="done", stage="finished", finished_at=store.now())
    return 0


def main() -> None:
    import os

    uri = os.environ.get("CREDGRAPH_GRAPH_URI", "")
    sys.exit(run(Path(sys.argv[1]), sys.argv[2], uri))


if __name__ == "__main__":
    main()
