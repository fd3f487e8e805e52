"""``python -m netsim``: the same command as the ``netsim`` script."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="netsim")
