"""python -m podlab.cli: the same as the podctl console script."""

from podlab.cli import main

main()
