"""``python -m quaton_fast.cli ...`` (and ``torchrun -m quaton_fast.cli ...``): the `quaton-fast` command."""
import sys

from .app import main

sys.exit(main())
