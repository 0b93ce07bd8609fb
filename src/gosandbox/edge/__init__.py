"""The HTTP toolkit every edge uses (the native API, the compatibility layers, MCP, the web page).

Request parsing and schemas, problem documents, the routes' shared context, submit-and-wait, shutdown,
CORS, security headers, observation, the API docs pages, and the uvicorn guard and server start. It
imports no route module: :mod:`gosandbox.app` composes the routes over it.
"""
