"""`python -m solver.cli`: the same as the `prunecert` command."""

import sys

from solver.cli import main

sys.exit(main())
