"""`python -m kzoo`: the `kzoo` command line (`kzoo.cli`)."""

import sys

from kzoo.cli import main

sys.exit(main())
