"""``python -m gosandbox.bench``."""

from gosandbox.bench.main import main

main()
