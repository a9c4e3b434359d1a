"""``python -m camdemo``: see ``camdemo.cli``."""

import sys

from camdemo.cli import main

sys.exit(main())
