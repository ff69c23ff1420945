"""OSC for play: tags as in recording, plus the latent and the mix from outside.

Addresses, besides those of `rehearsal.markers.osc.OscSource` (tags, undo, redo, the
notation's bindings), on the same port and with the same allow-list and limits:

    /rehearsal/latent f f f ...       drive the model's latent, one value per channel;
                                      NaN (or nothing past the last value) leaves a
                                      channel to the model
    /rehearsal/latent/<n> f           drive channel n (1-based) alone
    /rehearsal/latent/release         give the whole latent back to the model
    /rehearsal/play/mix f             dry/wet, 0..1
    /rehearsal/play/gain f            input gain (linear) into the model
    /rehearsal/play/model s|i         switch to a generation (g7, 7, current), faded in

The play process sends the model's own latent out as /rehearsal/latent/out f f f ... to
the host:port given by `--osc-out` (loopback by default): see `Renderer._send_controls`.
"""

from __future__ import annotations

import math

from ..markers.osc import OscSource, _types

MAX_LATENT = 64


class PlayOscSource(OscSource):
    def __init__(self, room, notation, **kw):
        super().__init__(room.bus, notation, **kw)
        self.room = room
        self.latent: list[float] = []

    def _message(self, msg, timetag, ip, sender, t, wall) -> None:
        address, args = msg.address, msg.params
        if not (address.startswith("/rehearsal/latent") or address.startswith("/rehearsal/play/")):
            return super()._message(msg, timetag, ip, sender, t, wall)
        numbers = all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args)
        try:
            if address == "/rehearsal/latent":
                if not args or len(args) > MAX_LATENT or not numbers:
                    return self._reject(ip, "wrong types", f"/rehearsal/latent wants 1 to {MAX_LATENT} numbers, "
                                        f"got {_types(args)}", sender)
                self.latent = [float(a) for a in args]
                self.room.player.set_latent(self.latent)
            elif address == "/rehearsal/latent/release":
                self.latent = []
                self.room.player.set_latent(None)
            elif address.startswith("/rehearsal/latent/"):
                index = address.rsplit("/", 1)[1]
                if not index.isdigit() or not 1 <= int(index) <= MAX_LATENT or len(args) != 1 or not numbers:
                    return self._reject(ip, "wrong types", f"{address[:80]} wants one number, channels 1 to "
                                        f"{MAX_LATENT}", sender)
                i = int(index) - 1
                self.latent += [math.nan] * (i + 1 - len(self.latent))
                self.latent[i] = float(args[0])
                self.room.player.set_latent(self.latent)
            elif address in ("/rehearsal/play/mix", "/rehearsal/play/gain"):
                if len(args) != 1 or not numbers or not math.isfinite(float(args[0])):
                    return self._reject(ip, "wrong types", f"{address} wants one number, got {_types(args)}", sender)
                (self.room.set_mix if address.endswith("mix") else self.room.set_gain)(float(args[0]))
            elif address == "/rehearsal/play/model":
                if len(args) != 1 or not isinstance(args[0], (str, int)) or isinstance(args[0], bool):
                    return self._reject(ip, "wrong types", f"{address} wants a generation (g7, 7, current), "
                                        f"got {_types(args)}", sender)
                self.room.switch(str(args[0]))
            else:
                return self._reject(ip, "unknown address", f"{address[:80]!r}", sender)
        except LookupError as exc:   # no such generation
            return self._reject(ip, "unknown generation", str(exc), sender)
        self.counts["controls"] += 1
