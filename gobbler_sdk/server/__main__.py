"""``python -m gobbler_sdk.server``: run the embedded Gobbler service."""

import sys

from .cli import main

sys.exit(main())
