"""Linkage jobs through the API: a real worker process links a batch from the inbox into
a state and loads it into a real graph; one at a time per state; paths confined."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from graph.server import ServerInfo
from graph.store import open_store
from tests.api.conftest import World, make_api, settings_for
from tests.conftest import SAMPLE

START = "mutation($p: String!) { startLinkageJob(batchPath: $p) { id status batchPath } }"
JOB = "query($id: String!) { linkageJob(id: $id) { id status stage done total error startedBy } }"


def test_linkage_job_runs_in_a_worker_with_progress(
    world: World, graph_server: ServerInfo, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLE / "batch", inbox / "sample")
    (tmp_path / "outside").mkdir()
    shutil.copytree(SAMPLE / "batch", tmp_path / "outside" / "b")
    uri = graph_server.uri.rsplit("/", 1)[0] + "/api_jobs"
    here = World(uri, tmp_path / "state", [], "", "", tmp_path)
    settings = settings_for(here, tmp_path / "api", inbox_dir=inbox, state_dir=tmp_path / "state")
    for a in make_api(settings):
        for bad, message in (
            ("../outside/b", "batchPath must be a directory inside the inbox"),
            (str(tmp_path / "outside" / "b"), "batchPath must be a directory inside the inbox"),
            ("missing", "batchPath has no manifest.yaml (not a batch directory)"),
            ("b\x00c", "batchPath must not contain a NUL character"),
            # a name longer than the file system allows (once a 500 in the mutation fuzz)
            ("b" * 300, "batchPath is not a usable path: File name too long"),
        ):
            r = a.post("tax_officer", START, {"p": bad})
            assert r.status_code < 500 and r.json()["errors"][0]["message"] == message
        (inbox / "escape").symlink_to(tmp_path / "outside" / "b")
        r = a.post("tax_officer", START, {"p": "escape"})
        assert r.json()["errors"][0]["message"] == "batchPath must be a directory inside the inbox"

        job = a.data("tax_officer", START, {"p": "sample"})["startLinkageJob"]
        assert job["status"] in ("queued", "running")
        assert job["batchPath"] == str((inbox / "sample").resolve())
        again = a.post("admin", START, {"p": "sample"})
        assert again.json()["errors"][0]["message"] == (
            f"linkage job {job['id']} is still running on this state: one at a time"
        )
        seen_stages = set()
        final = None
        for _ in range(600):  # bounded: at most ~2 minutes
            final = a.data("tax_officer", JOB, {"id": job["id"]})["linkageJob"]
            seen_stages.add(final["stage"].split(":")[0])
            if final["status"] in ("done", "failed"):
                break
            time.sleep(0.2)
        assert final is not None and final["status"] == "done", final
        assert final["startedBy"].startswith("test tax_officer (key ")
        assert "link" in seen_stages or "load" in seen_stages
        listed = a.data("tax_officer", "{ linkageJobs { id status } }")["linkageJobs"]
        assert {"id": job["id"], "status": "done"} in listed
    store = open_store(uri)
    try:
        n = store.read("MATCH (e:Enterprise) RETURN count(e) AS n")[0]["n"]
    finally:
        store.close()
    assert n > 0
