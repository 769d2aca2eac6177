"""A SparkSession for credgraph: local mode by default, bound to the loopback interface.

Spark's Python workers must run the interpreter that has credgraph, pandas and pyarrow
installed (the venv's), not whatever ``python3`` is first on the PATH: without
``PYSPARK_PYTHON`` pointing at it, ``mapInPandas`` fails in the workers.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SparkUnavailableError(RuntimeError):
    """pyspark or a Java runtime is missing."""


def spark_session(
    master: str = "local[2]",
    app_name: str = "credgraph",
    shuffle_partitions: int = 8,
    monitoring: bool = False,
) -> SparkSession:
    """Start (or return the running) SparkSession on ``master``.

    Local masters bind the driver to 127.0.0.1 and run without the web UI unless
    ``monitoring`` asks for it (its REST API gives the task metrics of ``--spark-costs``; it
    then listens on a free port of 127.0.0.1 only); a cluster master (``spark://…``,
    ``yarn``, ``k8s://…``) keeps the cluster's own network settings.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise SparkUnavailableError(
            "pyspark is not installed: `pip install 'credgraph[spark]'` (and a Java 17 runtime)"
        ) from exc
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")  # credgraph shows its own progress
    )
    if master.startswith("local"):
        # the UI server binds to SPARK_LOCAL_IP (all interfaces when unset)
        os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "true" if monitoring else "false")
            .config("spark.ui.port", "0")  # a free port, never a fixed one shared with others
        )
    if monitoring:
        builder = (
            builder.config("spark.ui.retainedJobs", "100000")
            .config("spark.ui.retainedStages", "100000")
            .config("spark.ui.retainedTasks", "10000000")
            .config("spark.sql.ui.retainedExecutions", "100000")
        )
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM failed to start: no Java, or a bad master URL
        raise SparkUnavailableError(f"could not start Spark on {master}: {exc}") from exc
    session.sparkContext.setLogLevel("ERROR")
    return session
