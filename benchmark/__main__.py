"""``python -m benchmark``: see benchmark.cli."""

from benchmark.cli import main

raise SystemExit(main())
