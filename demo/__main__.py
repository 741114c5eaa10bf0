"""``python -m demo``: the demo (see :mod:`demo`)."""

from demo.cli import main

if __name__ == "__main__":  # wave 1 runs in a spawned child, which imports this module too
    main()
