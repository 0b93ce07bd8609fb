"""The web playground as the server serves it: its pages, its built bundle and their headers.

The front end's sources are in ``web/`` at the top of the repository; ``make web`` bundles them into
``static/`` here (committed: an install needs no Node). This package only serves them:
:mod:`~gosandbox.web.pages` (the routes), :mod:`~gosandbox.web.assets` (the bundle and its manifest),
:mod:`~gosandbox.web.headers` (the Content-Security-Policy, cache and ``nosniff`` headers).
"""

from gosandbox.web.headers import install_nosniff
from gosandbox.web.pages import add_web_routes, share_page

__all__ = ["add_web_routes", "install_nosniff", "share_page"]
