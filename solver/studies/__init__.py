"""Studies built on the engine: heuristic comparisons and the structured-vs-unstructured gap."""
