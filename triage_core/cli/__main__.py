"""`python -m triage_core.cli`: the sandbox starts service processes this way, with the
same interpreter, whether or not the console script is on PATH."""

from triage_core.cli import main

main()
