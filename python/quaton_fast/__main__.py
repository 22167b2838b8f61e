"""``python -m quaton_fast ...``: the `quaton-fast` command."""
import sys

from .cli.app import main

sys.exit(main())
