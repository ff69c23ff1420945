"""OSC for play: tags as in recording, plus the latent and the mix from outside.

The addresses are rows of the one namespace (rehearsal.markers.namespace, docs/osc.md);
besides those of recording (tags, undo, redo, symbol, the notation's bindings), on the same
port and with the same allow-list and limits:

    /rehearsal/latent f f f ...       drive the model's latent, one value per channel;
                                      NaN (or nothing past the last value) leaves a
                                      channel to the model
    /rehearsal/latent/<n> f           drive channel n (1-based) alone
    /rehearsal/latent/release         give the whole latent back to the model
    /rehearsal/play/mix f             dry/wet, 0..1
    /rehearsal/play/gain f            input gain (linear) into the model
    /rehearsal/play/model s|i         switch to a generation (g7, 7, current), faded in
    /rehearsal/xy f f [f]             the XY pad: walk the playing generation's terrain (x, y
                                      in 0..1 of its map, glide seconds), see play/xy.py

The play process sends the model's own latent out as /rehearsal/latent/out f f f ... to
the host:port given by `--osc-out` (loopback by default): see `Renderer._send_controls`.
"""

from __future__ import annotations

import math

from ..markers.namespace import MAX_REPEAT
from ..markers.osc import OscSource

MAX_LATENT = MAX_REPEAT


class PlayOscSource(OscSource):
    """The play room's OSC: the namespace's `play` rows (rehearsal.markers.namespace)."""

    ROOM = "play"

    def __init__(self, room, notation, **kw):
        super().__init__(room.bus, notation, **kw)
        self.room = room
        self.latent: list[float] = []
        self.symbol_listeners.append(room.set_symbol)    # /rehearsal/symbol steers the model

    def _control(self, fn, *args) -> None:
        fn(*args)
        self.counts["controls"] += 1

    def on_latent(self, args, path, a) -> None:
        self.latent = list(args)
        self._control(self.room.player.set_latent, self.latent)

    def on_latent_release(self, args, path, a) -> None:
        self.latent = []
        self._control(self.room.player.set_latent, None)

    def on_latent_channel(self, args, path, a) -> None:
        i = path["n"] - 1
        if i >= MAX_LATENT:
            return self._reject(a.ip, "wrong types", f"latent channels are 1 to {MAX_LATENT}, got {i + 1}", a.sender)
        self.latent += [math.nan] * (i + 1 - len(self.latent))
        self.latent[i] = args[0]
        self._control(self.room.player.set_latent, self.latent)

    def on_mix(self, args, path, a) -> None:
        self._control(self.room.set_mix, args[0])

    def on_follow(self, args, path, a) -> None:
        try:
            self.room.set_follow(args[0])
        except ValueError as exc:                   # out of 0-1
            return self._reject(a.ip, "wrong types", str(exc), a.sender)
        except LookupError as exc:                  # this play's model does not accompany
            return self._reject(a.ip, "not accompanying", str(exc), a.sender)
        self.counts["controls"] += 1

    def on_gain(self, args, path, a) -> None:
        self._control(self.room.set_gain, args[0])

    def on_xy(self, args, path, a) -> None:
        try:
            self.room.set_xy(*args)
        except ValueError as exc:                          # outside the map, a glide out of range
            return self._reject(a.ip, "wrong types", str(exc), a.sender)
        except (LookupError, FileNotFoundError) as exc:    # nothing playing, or no terrain fitted for it
            return self._reject(a.ip, "no terrain", str(exc), a.sender)
        self.counts["controls"] += 1

    def on_model(self, args, path, a) -> None:
        try:
            self.room.switch(args[0])
        except LookupError as exc:   # no such generation
            return self._reject(a.ip, "unknown generation", str(exc), a.sender)
        self.counts["controls"] += 1
