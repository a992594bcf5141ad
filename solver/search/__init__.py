"""Searches that find masks and prove nothing: heuristics and the single-weight search."""
