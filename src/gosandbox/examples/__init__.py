"""Go programs shipped with the package (the default program of ``POST /run``)."""
