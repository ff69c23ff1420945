"""Install a plugin through the real entry-point mechanism, without pip.

importlib.metadata finds distributions as `<name>-<version>.dist-info` folders on
sys.path; rehearsal finds plugins as entry points of those distributions. Writing that
folder (METADATA + entry_points.txt, what pip would write) next to the package is a real
install as far as both are concerned, and takes a millisecond instead of a venv.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def install_plugin(site: Path, dist_name: str, version: str, entry_points: dict[str, str],
                   package_dir: Path | None = None, modules: dict[str, str] | None = None) -> Path:
    """Make `site` a folder pip could have written; put it on sys.path (or PYTHONPATH) to use it.

    entry_points: entry-point name -> "module[:attr]" in the `rehearsal` group.
    package_dir: a package folder to copy in; modules: module name -> source text to write.
    """
    site.mkdir(parents=True, exist_ok=True)
    norm = dist_name.replace("-", "_")
    info = site / f"{norm}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n")
    lines = ["[rehearsal]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    (info / "RECORD").write_text("")
    if package_dir is not None:
        shutil.copytree(package_dir, site / package_dir.name)
    for name, source in (modules or {}).items():
        (site / f"{name}.py").write_text(source)
    return site
