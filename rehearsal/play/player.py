"""The app's handle on the play process (no torch on this side).

    player = Player(PlayConfig(blocksize=256)).open()
    player.start_take(input_path, output_path)   # both streams from the same frame
    player.load(generation_id, checkpoint_path, name="g7")   # loads in the background, fades in
    player.set_mix(0.5); player.set_gain(2.0); player.set_latent([0.1, float("nan"), 1.0])
    player.frame_at(time.monotonic())            # SampleClock for the marker bus
    player.status()                              # from shared memory, without asking
    player.stop_take(); player.close()

Commands go over a pipe; a reader thread sorts replies from events (`on_event`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..audio.child import EngineClient
from . import status as S


REPLIES = ("ready", "started", "start-failed", "stopped", "stats")


class PlayError(RuntimeError):
    pass


@dataclass
class PlayConfig:
    device: int | str | None = None          # input (and output) device; None = the defaults
    output_device: int | str | None = None   # "none" with input_file: nothing is heard
    channels: int = 1                        # input channels recorded (the performer)
    output_channels: int | None = None       # default: up to 2, the model's mono output on each
    model_channel: int = 0                   # which input channel the model hears (0-based)
    input_file: str | None = None            # a file stands in for the performer (the room runs at its rate)
    samplerate: int | None = None            # the devices' rate; None: 48 kHz where taken, else the device's own
    wait_for_model: bool = True              # with a file: it starts once the first model is heard
    loop: bool = False
    speed: float = 1.0                       # --input-file without an output device (tests)
    blocksize: int = 256                     # audio callback block (<= 256)
    render_block: int = 256                  # samples the model renders at a time (a multiple of its hop)
    latency: int | None = None               # model latency in samples; default: the least that is safe
    lookahead: int = 0                       # extra render blocks of safety on top of that
    grace: float = 0.25                      # share of a callback period it may wait for a late block
    paced_grace_s: float | None = None       # no device: how long the clock waits for one (None: engine.PACED_GRACE_S)
    spare: bool = True                       # keep a model host started, so a switch does not wait for torch
    stream_latency: str | float = "low"
    mix: float = 1.0                         # dry/wet: 0 = the input only, 1 = the model only
    gain: float = 1.0                        # linear, on the model's input
    fade_ms: float = 50.0
    fade_curve: str = "equal-power"
    osc_out: tuple[str, int] | None = None   # where the model's latent goes (/rehearsal/latent/out)
    control_rate: float = 0.0                # latent messages per second (0: every block)
    headroom_s: float = 30.0
    format: str = "W64"
    subtype: str | None = None
    no_device_fallback: bool = True          # no sound card (no default in/out): the demo take, a null output
    coperform: dict | None = None            # the model answers (rehearsal.play.coperformer.CoPerform fields)


@dataclass(frozen=True)
class PlayStatus:
    frames: int
    recording: bool
    take_frames: int
    glitches: int
    saved: int                          # blocks that were late but arrived within the grace wait
    underflows: int
    overflows: int
    skipped: int
    active_generation: int | None       # None: dry
    incoming_generation: int | None
    loading: bool
    mix: float
    gain: float
    latency: int
    input_level: float
    output_level: float
    model_last_ms: float
    model_median_ms: float
    model_p99_ms: float
    block_ms: float
    gap_frames: int = 0                 # frames of missed stream cycles filled, since the stream opened

    @property
    def model_share(self) -> tuple[float, float]:
        """Median and p99 model time as a share of a render block's duration."""
        return (self.model_median_ms / self.block_ms if self.block_ms else 0.0,
                self.model_p99_ms / self.block_ms if self.block_ms else 0.0)


class Player(EngineClient):
    """The play engine process. Events: loaded, load-failed, warming, fading, switched,
    switch-failed, switch-abandoned, model-failed, glitches, input-ended, take-failed, gone."""

    module = "rehearsal.play.engine"
    replies = REPLIES
    error = PlayError
    what = "play"
    status_module = S

    def __init__(self, config: PlayConfig | None = None):
        super().__init__(config or PlayConfig())
        self.output_channels = self.latency = self.blocksize = self.render_block = 0
        self.fallback: str | None = None     # in words, what stood in for a missing sound card
        self.realtime = ""                   # in words, when real-time scheduling was refused

    def open(self, timeout: float = 60.0) -> "Player":   # the engine may load a model first
        return super().open(timeout)

    def _ready(self, p: dict) -> None:
        self.output_channels, self.latency = p["output_channels"], p["latency"]
        self.blocksize, self.render_block = p["blocksize"], p["render_block"]
        self.fallback = p.get("fallback")
        self.realtime = p.get("realtime") or ""

    # -- takes and control ------------------------------------------------------------------
    def start_take(self, input_path: str | Path, output_path: str | Path, timeout: float = 10.0,
                   align: bool = False) -> int:
        """Start writing both streams; returns the stream frame that is frame 0 of both (of
        the performer take: the input that many frames later, `aligned` says how many).
        `align`: a model is coming; the performer take is written as late as the first one
        loaded answers (its latency beyond the play's), so both takes line up as heard."""
        self._send(("start", {"input_path": str(input_path), "output_path": str(output_path),
                              "format": self.config.format, "subtype": self.config.subtype, "align": align}))
        kind, payload = self._reply(timeout, "started", "start-failed")
        if kind == "start-failed":
            raise PlayError(f"cannot start the take: {payload}")
        return int(payload["start_frame"])

    def stop_take(self, timeout: float = 30.0) -> dict:
        self._send(("stop",))
        return self._reply(timeout, "stopped")[1]

    def load(self, generation_id: int | None, checkpoint: str | Path, name: str = "", fade_ms: float | None = None) -> None:
        """Load in the background, then warm up and fade in (events say when)."""
        self._send(("load", {"generation_id": generation_id, "path": str(checkpoint), "name": name or str(checkpoint),
                             "fade_ms": fade_ms}))

    def set_mix(self, mix: float) -> None:
        self._send(("mix", float(mix)))

    def set_gain(self, gain: float) -> None:
        self._send(("gain", float(gain)))

    def set_fade(self, fade_ms: float) -> None:
        self._send(("fade", float(fade_ms)))

    def set_latent(self, values: list[float] | None) -> None:
        """Drive the latent: one value per channel, NaN leaves a channel to the model; None
        gives all of it back."""
        self._send(("latent", None if values is None else [float(v) for v in values]))

    def set_follow(self, follow: float) -> None:
        """A co-performer's follow in accompaniment, live: 0 ignores the performer, 1 mirrors
        them (the "follow-applied" event says from which frame)."""
        if not 0.0 <= float(follow) <= 1.0:
            raise ValueError(f"follow must be 0 (ignore the performer) to 1 (mirror them), got {follow}")
        self._send(("follow", float(follow)))

    def set_symbol(self, symbol: str | None) -> None:
        """Steer a model steered by symbols by `symbol` (None: no symbol) from the next block
        its host renders; a model that is not, or never learned it, carries on as it was."""
        self._send(("symbol", symbol or ""))

    def release_input(self) -> None:
        """With an input file: start it now, without waiting for a model."""
        self._send(("release-input",))

    def stats(self, timeout: float = 10.0) -> dict:
        self._send(("stats",))
        return self._reply(timeout, "stats")[1]

    # -- status ---------------------------------------------------------------------------
    def status(self) -> PlayStatus:
        st = self._st
        gen = lambda v: None if v == 0 else int(v)  # noqa: E731  (-1: a model file without a generation)
        block_ms = 1000.0 * self.render_block / self.samplerate if self.samplerate else 0.0
        return PlayStatus(
            frames=int(st[S.FRAMES]), recording=bool(st[S.RECORDING]), take_frames=int(st[S.TAKE_FRAMES]),
            glitches=int(st[S.GLITCHES]), saved=int(st[S.SAVED]), underflows=int(st[S.UNDERFLOWS]), overflows=int(st[S.OVERFLOWS]),
            skipped=int(st[S.SKIPPED]), active_generation=gen(st[S.ACTIVE_GEN]),
            incoming_generation=gen(st[S.INCOMING_GEN]), loading=bool(st[S.LOADING]), mix=float(st[S.MIX]),
            gain=float(st[S.GAIN]), latency=int(st[S.LATENCY]),
            input_level=max((float(st[S.LEVELS + c]) for c in range(max(1, min(self.channels, S.MAX_CHANNELS)))),
                            default=0.0),
            output_level=float(st[S.OUT_LEVEL]), model_last_ms=float(st[S.MODEL_LAST_US]) / 1e3,
            model_median_ms=float(st[S.MODEL_MEDIAN_US]) / 1e3, model_p99_ms=float(st[S.MODEL_P99_US]) / 1e3,
            block_ms=block_ms, gap_frames=int(st[S.GAP_FRAMES]),
        )

    # -- plumbing -------------------------------------------------------------------------------
    def _send(self, msg, quiet: bool = False) -> None:
        self._child.send(msg, quiet)

    def _reply(self, timeout: float, *expected: str):
        return self._child.reply(timeout, *expected)
