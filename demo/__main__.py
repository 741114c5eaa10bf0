"""``python -m demo``: the demo (see :mod:`demo`)."""

from demo.cli import main

main()
