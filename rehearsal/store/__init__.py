"""The workspace: one folder holding a collective's database and audio.

`Workspace` finds the folders; `open_db` opens the SQLite database (WAL, busy timeout,
migrated); the other modules are small repositories over its tables.
"""

from .workspace import Workspace, default_home
from .db import open_db

__all__ = ["Workspace", "default_home", "open_db"]
