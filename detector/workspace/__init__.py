"""The workspace: the one seam that crawling and detection share.

`home` finds and creates the folder, `store` is the only code that talks to the database (with
its migrations in `schema`), and `blobs` keeps every byte string once by SHA-256. Crawlers write
candidates here; detection reads them.
"""

from detector.workspace.home import DEFAULT_HOME, Workspace, create_workspace, open_workspace, resolve_home

__all__ = ["DEFAULT_HOME", "Workspace", "create_workspace", "open_workspace", "resolve_home"]
