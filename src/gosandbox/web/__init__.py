"""The web playground as the server serves it: its pages and its built bundle.

The front end's sources are in ``web/`` at the top of the repository; ``make web`` bundles them into
``static/`` here (committed: an install needs no Node). This package only serves them:
:mod:`~gosandbox.web.pages` (the routes), :mod:`~gosandbox.web.assets` (the bundle and its manifest);
their Content-Security-Policy and cache headers are :mod:`gosandbox.edge.headers`'.
"""

from gosandbox.web.pages import add_web_routes, share_page

__all__ = ["add_web_routes", "share_page"]
