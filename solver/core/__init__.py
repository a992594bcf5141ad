"""The core: problem model, parameters, results, errors and validation (no solver, no protobuf)."""
