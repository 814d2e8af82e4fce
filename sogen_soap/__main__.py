"""``python -m sogen_soap``: the same as the ``sogen-soap`` command."""

import sys

from .cli import main

sys.exit(main())
