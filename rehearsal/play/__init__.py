"""Play: the model live in the rehearsal room, where playing, tagging and training meet.

    live input -> play process (callback, render thread, model) -> output device
                   \\-> two takes from one frame counter: the performer's input, the model's output
    tags (MIDI, OSC, keys) -> marker bus -> input take -> mirrored onto the model's take
    what was heard when (play_models) -> how each generation was received (play_reception)

Importing this package never imports torch: only the play process does.

Library API (the CLI and the TUI use these):

- `PlayRoom(ws, session, notation, PlayConfig(...)).open()`; `.start(model_ref="current")`,
  `.switch("g7", fade_ms=)`, `.set_mix(x)`, `.set_gain(g)`, `.set_follow(f)`, `.submit(TagEvent)`, `.stop()`,
  `.close()`; `.listen(cb)` gets bus messages, `PlayEvent`, `PlayStarted`, `PlayFinished`,
  `InputEnded`; `.player.status()` -> `PlayStatus` (glitches, model time, levels), `.player.stats()`
- `Player(PlayConfig)`: the play process alone (no store): start_take, load, set_mix,
  set_gain, set_latent, set_follow, frame_at, status, stats
- store: `reception(db, generation_id)`, `reception_all(db)`, `plays_of(db, session_id)`,
  `stream_of_take(db, take_id)`, `sync_mirrors(db, play_id)`
- OSC: `PlayOscSource` (tags as `OscSource`, plus /rehearsal/latent, /rehearsal/play/*)
"""

from .player import PlayConfig, Player, PlayError, PlayStatus
from .reception import plays_of, reception, reception_all, stream_of_take
from .mirror import sync_mirrors

__all__ = ["PlayConfig", "Player", "PlayError", "PlayStatus", "plays_of", "reception", "reception_all",
           "stream_of_take", "sync_mirrors", "PlayRoom", "PlayEvent", "PlayStarted",
           "PlayFinished", "InputEnded", "resolve_model", "PlayOscSource"]


def __getattr__(name):
    # room and osc pull in the marker bus and python-osc: only when asked for
    if name in ("PlayRoom", "PlayEvent", "PlayStarted", "PlayFinished", "InputEnded", "resolve_model"):
        from . import room

        return getattr(room, name)
    if name == "PlayOscSource":
        from .osc import PlayOscSource

        return PlayOscSource
    raise AttributeError(name)
