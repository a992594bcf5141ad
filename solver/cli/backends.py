"""`prunecert backends`: the installed solver backends and their versions."""

from __future__ import annotations

import argparse

from solver.backends import REGISTRY, available_backends


def run(args: argparse.Namespace) -> int:
    installed = available_backends()
    width = max((len(name) for name in installed), default=0)
    for name, version in installed.items():
        stop = (
            ""
            if REGISTRY[name].supports_early_stop
            else "  (cancellation waits for the running solve; time limits apply)"
        )
        print(f"{name:{width}s} {version}{stop}")
    return 0


def add_parser(subparsers) -> None:
    back = subparsers.add_parser("backends", help="list the installed solver backends")
    back.set_defaults(func=run)
