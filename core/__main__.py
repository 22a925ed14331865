"""``python -m transfercast``: the same command line as ``transfercast``."""

from transfercast.cli import main

if __name__ == "__main__":
    main()
