"""The task operations as MCP tools at /mcp, for AI agents (Model Context Protocol).

Which operations are tools, and what a model reads about them, is in openapi.yaml (the
`x-mcp-tool` extension); everything else follows from the contract:

* tools.py     the tool list, generated from openapi.yaml (arguments, schemas, summaries)
* schemas.py   JSON Schemas of the contract with every $ref resolved
* calls.py     a tool call → the API request it stands for, and the answer → a tool result
* dispatch.py  that request, run in-process through the same app as an HTTP request
* auth.py      bearer tokens at /mcp (401 + RFC 9728 metadata), Origin checks
* server.py    the official SDK's server and transport, wired into create_app
"""
