"""The rights-holder portal: a JSON API under /api and server-rendered pages, served from one workspace.

`create_app(ws)` builds the ASGI app; `copyhound serve` runs it with uvicorn. Every request acts
for the principal of an API token (Bearer header for the API, a signed session cookie for the
pages). An owner's token sees only that owner's data; another owner's id answers 404, exactly
like an id that does not exist, so ids cannot be probed.
"""

from detector.web.app import create_app

__all__ = ["create_app"]
