"""The Model Context Protocol server: tools for LLM agents, over stdio and streamable HTTP."""
