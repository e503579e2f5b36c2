"""``python -m rlscaling.cli``."""

from rlscaling.cli.app import main

if __name__ == "__main__":  # pragma: no cover - the console entry point
    main()
