"""The edges: tidegate seen from the tools around it (orchestrators, dbt), through its
public API and its ledger."""
