"""Durable batch jobs: specs, the SQLite store, and their execution on Dask."""
