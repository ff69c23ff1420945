"""A RAVE model nobody here wrote: acids-rave's own config, its own export script.

`random_rave()` builds a randomly initialised (seeded) RAVE from one of acids-rave 2.3.1's
shipped configs (`v2_small` by default) inside the acids-rave venv (scripts/setup-rave),
saves it as a run folder the way `rave train` leaves one (config.gin + a lightning-style
checkpoint holding `state_dict`), and exports it with acids-rave's own `rave export
--streaming`. The .ts is what a collective brings home from a RAVE run: the nn~ contract
(encode/decode/forward, `<method>_params` buffers), 44.1 kHz, 2048-sample ratio.

Cached in `~/.cache/rehearsal-tests/rave-<config>-v1/` (or under $REHEARSAL_TEST_CACHE):
built once (about a minute), then reused. The cache key holds the venv's stamp, so a
rebuilt venv exports again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERSION = 1

# runs in the RAVE venv: the model exactly as `rave train` builds it before its first step
_BUILD = r"""
import os, sys, gin, torch
import rave
config, run, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
gin.bind_parameter("RAVE.n_channels", 1)         # as train.py does, before the config
gin.parse_config_files_and_bindings([config + ".gin"], [])
torch.manual_seed(seed)
model = rave.RAVE(n_channels=1)
os.makedirs(os.path.join(run, "version_0", "checkpoints"), exist_ok=True)
with open(os.path.join(run, "config.gin"), "w") as f:
    f.write(gin.operative_config_str())
torch.save({"state_dict": model.state_dict(), "global_step": 0},
           os.path.join(run, "version_0", "checkpoints", "last.ckpt"))
"""


def rave_venv() -> Path:
    """scripts/setup-rave: built once (a few minutes), cached after (scripts/test builds it first)."""
    out = subprocess.run([str(ROOT / "scripts" / "setup-rave")], capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"scripts/setup-rave failed:\n{out.stderr[-3000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


def cache_dir() -> Path:
    base = os.environ.get("REHEARSAL_TEST_CACHE") or Path.home() / ".cache" / "rehearsal-tests"
    return Path(base)


def random_rave(config: str = "v2_small", seed: int = 0, venv: Path | None = None) -> Path:
    """The path of a `rave export --streaming` .ts of a seeded, untrained RAVE `config`."""
    venv = venv or rave_venv()
    stamp = (venv / ".rehearsal-rave").read_text()
    key = hashlib.sha1(f"{VERSION} {config} {seed} {stamp}".encode()).hexdigest()[:10]
    dest = cache_dir() / f"rave-{config}-v{VERSION}" / key
    model = dest / f"rave_{config}_streaming.ts"
    if model.exists():
        return model
    with tempfile.TemporaryDirectory(prefix="rave-model-") as tmp:
        run = Path(tmp) / f"rave_{config}"
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        py = str(venv / "bin" / "python")
        done = subprocess.run([py, "-c", _BUILD, config, str(run), str(seed)], capture_output=True, text=True,
                              timeout=600, cwd=tmp, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"building RAVE {config} failed:\n{done.stderr[-3000:]}")
        out = Path(tmp) / "out"
        done = subprocess.run([str(venv / "bin" / "rave"), "export", "--run", str(run), "--streaming",
                               "--output", str(out), "--name", f"rave_{config}"], capture_output=True, text=True,
                              timeout=600, cwd=tmp, env=env)
        made = out / f"rave_{config}_streaming.ts"
        if done.returncode != 0 or not made.exists():
            raise RuntimeError(f"rave export --streaming failed:\n{done.stderr[-3000:]}")
        dest.mkdir(parents=True, exist_ok=True)
        part = dest / (made.name + ".part")
        shutil.copyfile(made, part)
        os.replace(part, model)            # whole or absent: a cut-short build is redone
    return model
