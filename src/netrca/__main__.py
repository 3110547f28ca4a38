"""Entry point for ``python -m netrca``."""

from netrca.cli import entry

if __name__ == "__main__":
    entry()
