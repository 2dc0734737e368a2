"""`python -m voc.cli`: the same as the `voc` command."""

from voc.cli.main import main

raise SystemExit(main())
