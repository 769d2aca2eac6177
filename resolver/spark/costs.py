"""Per-stage, per-partition costs of a Spark linkage run (for ``--spark-costs FILE`` and the
projection in docs/scale.md).

Two sources, both measured, nothing estimated:

- **credgraph's own work in the tasks**: every function the engine runs inside Spark
  (``mapInPandas`` / ``applyInPandas``) adds, per step and partition, the records it read,
  the rows it wrote and the seconds it took to an accumulator (:class:`Meter`). Spark adds a
  task's accumulator updates when the task ends; a task that is re-run (a lost cached
  partition) counts twice.
- **Spark's task metrics** from the driver's monitoring REST API (``/api/v1``, served by the
  driver's UI, which :func:`resolver.spark.session.spark_session` binds to 127.0.0.1 when
  asked for costs): per stage and task the run time, CPU time, shuffle bytes and records
  read and written, spilled bytes and GC time. Jobs are attributed to the engine's steps by
  their job group (:meth:`Meter.step`).
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pyspark.accumulators import AccumulatorParam

if TYPE_CHECKING:
    import pandas as pd
    from pyspark import Accumulator
    from pyspark.sql import SparkSession

#: (step, partition) -> [records in, rows out, seconds, calls]
Tally = dict[tuple[str, int], list[float]]


class _TallyParam(AccumulatorParam[Tally]):
    def zero(self, value: Tally) -> Tally:
        return {}

    def addInPlace(self, value1: Tally, value2: Tally) -> Tally:
        for key, (rin, rout, secs, calls) in value2.items():
            have = value1.setdefault(key, [0, 0, 0.0, 0])
            have[0] += rin
            have[1] += rout
            have[2] += secs
            have[3] += calls
        return value1


def task_partition() -> int:
    from pyspark import TaskContext

    ctx = TaskContext.get()
    return ctx.partitionId() if ctx is not None else -1


def metered_batches(
    acc: Accumulator[Tally] | None,
    step: str,
    fn: Callable[[Iterable[pd.DataFrame]], Iterator[pd.DataFrame]],
) -> Callable[[Iterable[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """A ``mapInPandas`` function that also adds its rows and seconds to ``acc``."""
    if acc is None:
        return fn

    def run(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        rows_in = 0
        counted: list[int] = []

        def counting() -> Iterator[pd.DataFrame]:
            nonlocal rows_in
            for pdf in batches:
                rows_in += len(pdf)
                yield pdf

        t = time.perf_counter()
        busy = 0.0
        for out in fn(counting()):
            busy += time.perf_counter() - t
            counted.append(len(out))
            yield out
            t = time.perf_counter()
        busy += time.perf_counter() - t
        acc.add({(step, task_partition()): [rows_in, sum(counted), busy, 1]})

    return run


def metered_group(
    acc: Accumulator[Tally] | None, step: str, fn: Callable[[pd.DataFrame], pd.DataFrame]
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A grouped ``applyInPandas`` function that also adds its rows and seconds to ``acc``."""
    if acc is None:
        return fn

    def run(pdf: pd.DataFrame) -> pd.DataFrame:
        t = time.perf_counter()
        out = fn(pdf)
        acc.add({(step, task_partition()): [len(pdf), len(out), time.perf_counter() - t, 1]})
        return out

    return run


def metered_cogroup(
    acc: Accumulator[Tally] | None,
    step: str,
    fn: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame],
) -> Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]:
    """A cogrouped ``applyInPandas`` function that also adds its rows and seconds to ``acc``
    (records in: the rows of both sides)."""
    if acc is None:
        return fn

    def run(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
        t = time.perf_counter()
        out = fn(left, right)
        secs = time.perf_counter() - t
        acc.add({(step, task_partition()): [len(left) + len(right), len(out), secs, 1]})
        return out

    return run


class Meter:
    """The costs of one run: the accumulator the tasks add to, the wall time of each engine
    step on the driver, and Spark's task metrics read from the REST API at the end."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.sc = spark.sparkContext
        self.acc: Accumulator[Tally] = self.sc.accumulator({}, _TallyParam())
        self.walls: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Attribute the Spark jobs started inside to ``name`` and time the step."""
        self.sc.setJobGroup(name, name)
        t = time.perf_counter()
        try:
            yield
        finally:
            self.walls[name] = self.walls.get(name, 0.0) + time.perf_counter() - t
            self.sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
            self.sc.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]

    def _api(self, path: str) -> Any:
        base = self.sc.uiWebUrl
        if not base:
            return None
        url = f"{base}/api/v1/applications/{self.sc.applicationId}/{path}"
        with urllib.request.urlopen(url, timeout=60) as resp:
            return json.load(resp)

    def spark_metrics(self) -> dict[str, dict[str, Any]]:
        """Spark's task metrics summed per step (job group), with the per-task spread."""
        jobs = self._api("jobs")
        if jobs is None:
            return {}
        group_of: dict[int, str] = {}
        for job in jobs:
            for sid in job.get("stageIds", []):
                group_of.setdefault(sid, job.get("jobGroup") or "(no step)")
        out: dict[str, dict[str, Any]] = {}
        for sid, group in sorted(group_of.items()):
            attempts = self._api(f"stages/{sid}?details=true") or []
            for stage in attempts:
                tasks = list((stage.get("tasks") or {}).values())
                if not tasks:
                    continue  # skipped: its output was cached or already shuffled
                g = out.setdefault(
                    group,
                    {
                        "stages": 0,
                        "tasks": 0,
                        "task_seconds": [],
                        "cpu_seconds": 0.0,
                        "gc_seconds": 0.0,
                        "shuffle_read_bytes": 0,
                        "shuffle_read_records": 0,
                        "shuffle_write_bytes": 0,
                        "shuffle_write_records": 0,
                        "spill_bytes": 0,
                        "deserialize_seconds": 0.0,
                        "slowest_stages": [],
                    },
                )
                g["stages"] += 1
                run = [(t.get("taskMetrics") or {}).get("executorRunTime", 0) / 1000 for t in tasks]
                g["slowest_stages"].append(
                    {
                        "stage": sid,
                        "name": str(stage.get("name", ""))[:60],
                        "tasks": len(tasks),
                        "task_seconds_sum": round(sum(run), 3),
                        "task_seconds_max": round(max(run), 3),
                    }
                )
                for task in tasks:
                    m = task.get("taskMetrics") or {}
                    sr = m.get("shuffleReadMetrics") or {}
                    sw = m.get("shuffleWriteMetrics") or {}
                    g["tasks"] += 1
                    g["task_seconds"].append(m.get("executorRunTime", 0) / 1000)
                    g["cpu_seconds"] += m.get("executorCpuTime", 0) / 1e9
                    g["gc_seconds"] += m.get("jvmGcTime", 0) / 1000
                    g["shuffle_read_bytes"] += sr.get("remoteBytesRead", 0) + sr.get(
                        "localBytesRead", 0
                    )
                    g["shuffle_read_records"] += sr.get("recordsRead", 0)
                    g["shuffle_write_bytes"] += sw.get("bytesWritten", 0)
                    g["shuffle_write_records"] += sw.get("recordsWritten", 0)
                    g["spill_bytes"] += m.get("diskBytesSpilled", 0)
                    g["deserialize_seconds"] += m.get("executorDeserializeTime", 0) / 1000
        for g in out.values():
            secs = g.pop("task_seconds")
            g["task_seconds_sum"] = round(sum(secs), 3)
            g["task_seconds_max"] = round(max(secs), 3)
            g["task_seconds_median"] = round(statistics.median(secs), 3)
            g["cpu_seconds"] = round(g["cpu_seconds"], 3)
            g["gc_seconds"] = round(g["gc_seconds"], 3)
            g["deserialize_seconds"] = round(g["deserialize_seconds"], 3)
            g["slowest_stages"] = sorted(
                g["slowest_stages"], key=lambda x: -float(x["task_seconds_sum"])
            )[:3]
        return out

    def python_work(self) -> dict[str, dict[str, Any]]:
        """credgraph's work in the tasks, per step: totals and the spread over partitions."""
        per_step: dict[str, list[tuple[int, list[float]]]] = {}
        for (step, part), vals in sorted(self.acc.value.items()):
            per_step.setdefault(step, []).append((part, vals))
        out: dict[str, dict[str, Any]] = {}
        for step, parts in per_step.items():
            secs = [v[2] for _, v in parts]
            out[step] = {
                "partitions": len(parts),
                "records_in": int(sum(v[0] for _, v in parts)),
                "rows_out": int(sum(v[1] for _, v in parts)),
                "seconds": round(sum(secs), 3),
                "partition_seconds_max": round(max(secs), 3),
                "partition_seconds_median": round(statistics.median(secs), 3),
                "per_partition": [
                    {
                        "partition": p,
                        "records_in": int(v[0]),
                        "rows_out": int(v[1]),
                        "seconds": round(v[2], 3),
                        "calls": int(v[3]),
                    }
                    for p, v in parts
                ],
            }
        return out

    def report(self) -> dict[str, Any]:
        """Everything measured, as one JSON-ready dict."""
        conf = self.sc.getConf()
        return {
            "master": self.sc.master,
            "default_parallelism": self.sc.defaultParallelism,
            "shuffle_partitions": int(conf.get("spark.sql.shuffle.partitions", "200") or 200),
            "step_wall_seconds": {k: round(v, 3) for k, v in self.walls.items()},
            "python_work": self.python_work(),
            "spark_tasks": self.spark_metrics(),
        }
