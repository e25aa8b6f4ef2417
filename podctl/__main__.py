"""python -m podctl: the same as the podctl console script."""

from podctl import main

main()
