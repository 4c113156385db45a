"""The edges: tidegate seen from the tools around it (orchestrators, dbt)."""
