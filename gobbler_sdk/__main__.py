"""``python -m gobbler_sdk``: the same program as the ``gobbler-sdk`` command."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(prog_name="gobbler-sdk"))
