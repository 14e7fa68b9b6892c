"""`python -m kzoo`: the `kzoo` command line (`kzoo.cli`)."""

import sys

from kzoo.cli import main

if __name__ == "__main__":
    sys.exit(main())
