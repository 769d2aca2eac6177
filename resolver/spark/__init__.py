"""Linkage on Apache Spark: the same standardisation, comparison and scoring code as the local
engine, run over partitions (``mapInPandas``), and connected components on DataFrames with
the large-star / small-star algorithm (Kiveris et al., 2014).

Imports go down: :mod:`session` (a SparkSession bound to loopback, workers on this venv's
interpreter), :mod:`components` (connected components)."""
