"""``python -m bench [--quick] [--only CASE] [--repeat N] [--postgres URL]``."""

from bench.cli import main

raise SystemExit(main())
