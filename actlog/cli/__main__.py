"""``python -m actlog.cli``: the ``actlog`` command."""

from actlog.cli import main

raise SystemExit(main())
