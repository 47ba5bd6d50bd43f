"""``python -m trio_dag``: the command line (see ``trio_dag._cli``)."""

import sys

from ._cli import main

sys.exit(main())
