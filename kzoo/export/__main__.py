"""`python -m kzoo.export` (see `kzoo.export.cli`)."""

from kzoo.export.cli import main

if __name__ == "__main__":
    main()
