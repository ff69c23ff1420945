"""One ordered list of migrations, applied by opening the database (real SQLite files).

`fixtures/workspace_before_issue22.sqlite` was made by the code of commit 6489cc7, the commit
before the migrations moved into rehearsal/store/: its features appended their migrations
when imported, and the database went through all of them. An old workspace and a fresh one
must reach the same schema, and importing a module must never change what opening does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from rehearsal.store import open_db
from rehearsal.store.migrations import MIGRATIONS

FIXTURE = Path(__file__).parent / "fixtures" / "workspace_before_issue22.sqlite"


def _schema(db) -> list[tuple]:
    return db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
                      "ORDER BY type, name").fetchall()


def _applied(db) -> list[str]:
    return [r[0] for r in db.execute("SELECT name FROM migrations ORDER BY rowid")]


def test_a_workspace_from_before_and_a_fresh_one_reach_the_same_schema(tmp_path):
    old = tmp_path / "old.sqlite"
    shutil.copy(FIXTURE, old)
    old_db, fresh_db = open_db(old), open_db(tmp_path / "fresh.sqlite")
    assert _schema(old_db) == _schema(fresh_db)
    assert len(_schema(fresh_db)) > 30        # every area's tables, views and triggers
    assert _applied(old_db) == _applied(fresh_db) == list(MIGRATIONS)
    # its data is still there, and reopening applies nothing more
    assert old_db.execute("SELECT name FROM sessions").fetchall() == [("before-22",)]
    assert open_db(old).execute("SELECT count(*) FROM migrations").fetchone()[0] == len(MIGRATIONS)


def test_every_script_is_in_the_list_and_the_list_is_ordered():
    scripts = sorted(p.name[:-4] for p in resources.files("rehearsal.store").joinpath("sql").iterdir()
                     if p.name.endswith(".sql"))
    assert scripts == sorted(MIGRATIONS)
    assert list(MIGRATIONS) == sorted(MIGRATIONS)


IMPORT_ALL = r"""
import hashlib, importlib, pkgutil, sys
from pathlib import Path
from rehearsal.store import open_db

def schema(path):
    db = open_db(path)
    rows = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    db.conn.close()
    return rows

first = Path(sys.argv[1]) / "first.sqlite"
before = schema(first)
digest = hashlib.sha256(first.read_bytes()).hexdigest()
import rehearsal, rehearsal_plugins
names = []
for pkg in (rehearsal, rehearsal_plugins):
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
        names.append(info.name)
assert len(names) > 80, names
assert hashlib.sha256(first.read_bytes()).hexdigest() == digest, "an import wrote to the database"
assert schema(first) == before, "reopening after the imports changed the schema"
assert schema(Path(sys.argv[1]) / "second.sqlite") == before, "a database opened after the imports differs"
print(len(names))
"""


def test_importing_every_module_leaves_a_database_untouched(tmp_path):
    # a fresh interpreter: in this one, other tests have imported everything already
    done = subprocess.run([sys.executable, "-c", IMPORT_ALL, str(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[-1]) > 80

