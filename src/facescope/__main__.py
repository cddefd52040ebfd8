"""`python -m facescope` runs the command line."""

from facescope.cli import main

main()
