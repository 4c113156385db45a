"""How big each data set is, per run size: ``full`` (the documented run), ``quick`` (a
smoke run) and ``tiny`` (the CI test)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    """Row and file counts of every generated data set."""

    name: str
    wide_rows: int  # wide CSV: rows of 8 columns (10M is about 1 GB)
    wide_big_rows: int  # the memory-scaling file (4x); 0 leaves that case out
    churn_keys: int  # dimension churn: keys of the first snapshot
    churn_big_keys: int  # the scaling dimension (10x); 0 leaves that case out
    small_files: int  # many small files: how many
    nested_parents: int  # nested JSON Lines: parent records (1-10 children each)
    repeats: int  # runs of each tool per case; the median is reported
    spark_wide_rows: int  # the wide CSV on Spark local[1] and local[2] (bench/spark.py)
    spark_churn_keys: int  # the scd2 churn on Spark
    spark_small_files: int  # small files on Spark: the per-file overhead


FULL = Sizes(
    "full", 10_000_000, 40_000_000, 1_000_000, 10_000_000, 10_000, 1_000_000, 3,
    2_000_000, 200_000, 100,
)  # fmt: skip
QUICK = Sizes("quick", 200_000, 0, 50_000, 0, 300, 20_000, 1, 50_000, 10_000, 20)
TINY = Sizes("tiny", 2_000, 0, 2_000, 0, 12, 300, 1, 500, 500, 3)

SIZES = {sizes.name: sizes for sizes in (FULL, QUICK, TINY)}
