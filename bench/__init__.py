"""The benchmark harness: tidegate side by side with the floor and with dlt.

``python -m bench`` generates the data sets (``datasets``), runs each case (``scenarios``)
with every tool (``tools``) in its own measured process (``measure``), and writes the
results and the report (``report``). See docs/benchmarks.md.
"""
