"""``python -m cnnvis``: the command line (see :mod:`cnnvis.cli`)."""

from .cli import main

raise SystemExit(main())
