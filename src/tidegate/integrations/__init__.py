"""The edges: orchestrators that drive tidegate through its public API and its ledger."""
