"""``python -m kennel_cli`` is the same as ``kennel``."""

from kennel_cli.main import main

raise SystemExit(main())
