"""``python -m carehub``."""

from carehub.cli import main

main()
