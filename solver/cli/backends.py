"""`prunecert backends`: the installed solver backends and their versions."""

from __future__ import annotations

import argparse

from solver.backends import REGISTRY, available_backends


def run(args: argparse.Namespace) -> int:
    installed = available_backends()
    width = max((len(name) for name in installed), default=0)
    for name, version in installed.items():
        cls = REGISTRY[name]
        notes = []
        if not cls.solves_columns():
            # A formulation of its own (the per-weight model, docs/design.md §15): "auto" takes
            # it for weights mode at larger d.
            notes.append(f"{cls.formulation} formulation: weights mode, chosen by auto at larger d")
        if not cls.supports_early_stop:
            notes.append("cancellation waits for the running solve; time limits apply")
        print(f"{name:{width}s} {version}" + "".join(f"  ({note})" for note in notes))
    return 0


def add_parser(subparsers) -> None:
    back = subparsers.add_parser("backends", help="list the installed solver backends")
    back.set_defaults(func=run)
