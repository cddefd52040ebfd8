"""`python -m facescope.cli` runs the command line."""

from facescope.cli import main

main()
