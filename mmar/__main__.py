"""``python -m mmar ...``: see :mod:`mmar.cli`."""

from mmar.cli import main

raise SystemExit(main())
