"""The HTTP toolkit every edge uses (the native API, the compatibility layers, MCP, the web page).

Request parsing and schemas, problem documents, shutdown, submit-and-wait, CORS, observation, the
API docs pages, and the uvicorn guard and server start.
"""
