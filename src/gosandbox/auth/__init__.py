"""API keys, their quotas and rate limits (``GOSANDBOX_AUTH=required``).

- :mod:`gosandbox.auth.keys`: keys as data, made and stored hashed (``gosandbox keys``);
- :mod:`gosandbox.auth.ratelimit`: each key's token bucket and daily quota, in-process or in Redis;
- :mod:`gosandbox.auth.context`: the key of the request being served, and its limit caps;
- :mod:`gosandbox.auth.middleware`: the ASGI layer that authenticates, counts and answers 401/429.
"""
