"""Problems plugins caused, remembered in the workspace (table plugin_problems, migration 043).

    remember(db, "vandal", "step 'x' deleted or changed take audio: ...")
    remembered(db) -> {"vandal": [{"message", "count", "first_at", "last_at"}, ...]}
"""

from __future__ import annotations

from .clock import utc_now


def remember(db, plugin: str | None, message: str) -> None:
    if not plugin or plugin == "unknown":
        return
    now = utc_now()
    db.execute("INSERT INTO plugin_problems (plugin, message, first_at, last_at) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (plugin, message) DO UPDATE SET count = count + 1, last_at = excluded.last_at",
               [plugin, message, now, now])
    db.conn.commit()


def remembered(db) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in db.query("SELECT plugin, message, count, first_at, last_at FROM plugin_problems "
                        "ORDER BY plugin, last_at DESC"):
        out.setdefault(row["plugin"], []).append({k: row[k] for k in ("message", "count", "first_at", "last_at")})
    return out
