"""The engine: orchestrates formulation, backends, searches and certificates into a result."""
