"""Input and output: proto <-> core conversion and human-readable reports."""
