"""Entry point for ``python -m netrca``."""

from netrca.cli import main

if __name__ == "__main__":
    main()
