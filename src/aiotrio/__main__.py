"""``python -m aiotrio``: see `aiotrio._cli` (``python -m aiotrio --help``)."""

from aiotrio._cli import main

if __name__ == "__main__":
    main()
