"""A model host: one generation in a process of its own.

`python -m rehearsal.play.host CONFIG_JSON CONN_FD WAKE_FD`, started by the play process
before it is needed (a spare: importing torch takes seconds), told which checkpoint to
load when a generation is asked for. Loading, scripting and warming a model hold the GIL
for tens of milliseconds at a stretch; here that GIL is nobody else's, so the callback and
the model playing now (in their own processes) never wait for it.

    input ring (shared) --woken by the callback--> slot.run(block) --> host ring (shared)

Every block is rendered as soon as the callback has delivered it. A model that raises or
returns NaN/inf marks its block failed, says why in the ring, and the host ends: the
callback plays the dry input from that block on.
"""

from __future__ import annotations

import gc
import json
import os
import select
import sys
import time

import numpy as np

from . import shared as H

MAX_BACKLOG = 32   # blocks: further behind, skip ahead (the model hears a jump) rather than lag


def _die_with_parent() -> None:
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except OSError:
        pass


def _realtime(priority: int) -> None:
    from ..audio.core import request_fifo

    if request_fifo(priority):     # refused: the play process says so in words
        try:
            os.nice(-5)
        except OSError:
            pass


def main() -> None:
    from multiprocessing.connection import Connection

    cfg = json.loads(sys.argv[1])
    conn, wake = Connection(int(sys.argv[2])), int(sys.argv[3])
    _die_with_parent()
    block = int(cfg["block"])
    room_rate = int(cfg.get("room_rate") or 48000)
    inp = H.InputRing.attach(cfg["input"], capacity=int(cfg["capacity"]))
    ring = H.HostRing.attach(cfg["ring"], blocks=int(cfg["blocks"]), block=block)
    try:
        import torch

        torch.set_num_threads(1)
        from .slots import ModelFailure, Slot

        conn.send(("spare-ready", {"pid": os.getpid()}))
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] != "load":
            return
        req = msg[1]
        try:
            slot = Slot.load(req["path"], req.get("generation_id"), req.get("name") or "model", block, room_rate)
            if block % slot.hop:
                raise ValueError(f"{slot.name} renders blocks of {slot.hop} samples; play renders {block} at a "
                                 "time, which is not a multiple of it")
            if cfg.get("coperform"):
                slot.co_perform(cfg["coperform"], block)
        except Exception as exc:
            known = isinstance(exc, (ValueError, OSError))   # ModelFileError is a ValueError
            ring.header[H.STATE] = H.FAILED
            conn.send(("load-failed", {"error": str(exc) if known else f"{type(exc).__name__}: {exc}"}))
            return
        ring.header[H.HOP], ring.header[H.CONTEXT] = slot.hop, slot.context
        ring.header[H.LATENT_CHANNELS] = len(slot.latent_labels)
        conn.send(("loaded", {"hop": slot.hop, "context": slot.context, "latent": slot.latent_labels,
                              "warm_blocks": slot.warm_blocks(block), "latency_samples": slot.latency,
                              "sample_rate": slot.stream.model_rate if slot.stream is not None else room_rate,
                              "buffer": slot.stream.buffer if slot.stream is not None else slot.hop}))
        _realtime(60)   # part of the audio chain (one period to render): just under JACK's clients (65-70)
        try:
            render(slot, ModelFailure, inp, ring, conn, wake, block, cfg.get("osc_out"),
                   float(cfg.get("control_rate", 0)), room_rate)
        finally:
            slot.close()
    finally:
        inp.close()
        ring.close()


def render(slot, ModelFailure, inp, ring, conn, wake: int, block: int, osc_out, control_rate: float,
           room_rate: int = 48000) -> None:
    osc = _controls_sender(osc_out, control_rate, block, room_rate) if osc_out and slot.latent_labels else None
    raw = np.zeros(block, np.float32)
    k = inp.written // block                 # the first block not yet complete: heard from its start
    ring.header[H.FIRST_BLOCK] = k
    ring.header[H.STATE] = H.READY
    timing = _time_collections(ring)
    try:
        _render_loop(slot, ModelFailure, inp, ring, conn, wake, block, osc, raw, k)
    finally:
        gc.callbacks.remove(timing)


def _time_collections(ring):
    """Count the garbage collector's runs while rendering, and their time (a pause of the
    render thread the model's time per block does not show when it falls between blocks)."""
    began = [0.0]

    def timing(phase, info) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
            return
        us = int((time.perf_counter() - began[0]) * 1e6)
        h = ring.header
        h[H.GC_RUNS] += 1
        h[H.GC_US] += us
        h[H.GC_MAX_US] = max(int(h[H.GC_MAX_US]), us)

    gc.callbacks.append(timing)
    return timing


def _render_loop(slot, ModelFailure, inp, ring, conn, wake: int, block: int, osc, raw, k: int) -> None:
    skipped = symbol_seq = 0
    last_behind = calls_s = 0.0
    while True:
        ready, _, _ = select.select([wake, conn], [], [])
        if wake in ready:
            os.read(wake, 4096)
        if conn in ready or conn.poll():
            try:
                if conn.recv()[0] == "stop":
                    ring.header[H.STATE] = H.DONE
                    return
            except (EOFError, OSError):
                return
        avail = inp.written // block
        if avail - k > MAX_BACKLOG:
            skipped += avail - 1 - k
            ring.header[H.SKIPPED] = skipped
            k = avail - 1
            slot.restart()       # an imported module's buffers held the skipped input
        while k < avail:
            if not inp.read(k * block, raw):
                k = inp.written // block   # overwritten while we were away: go on from now
                slot.restart()
                break
            x = raw * np.float32(inp.gain[0])
            if slot.co is not None:
                slot.co.set_follow(float(inp.follow[0]))
            symbol_seq, symbol = inp.get_symbol(symbol_seq)
            if symbol is not None:
                slot.set_symbol(symbol)
            t0 = time.monotonic()
            waited = t0 - inp.stamped(k)     # since the callback completed this block's input
            y = None
            try:
                y = slot.run(x, inp.get_latent())
                if y is not None:
                    ring.put(k, y, started=t0)
                slot.work()          # an imported module's calls, after its block is handed on
            except ModelFailure as f:
                ring.fail(k if y is None or not ring.still(k) else k + 1,
                          H.NON_FINITE if f.kind == "non-finite" else H.MODEL_ERROR, str(f))
                _wait_for_stop(conn)   # alive until the callback has read why (else it looks crashed)
                return
            spent = time.monotonic() - t0
            if slot.stream is not None:   # its calls run on a thread: count their time here
                calls_s, counted_s = slot.stream.call_s, calls_s
                spent += calls_s - counted_s
            ring.add_time(spent, waited)
            ring.header[H.RENDERED] += 1
            if y is None:   # it could not keep up: this block plays dry, the stream starts again
                ring.header[H.BEHIND] += 1
                now = time.monotonic()
                if now - last_behind >= 1.0:
                    last_behind = now
                    conn.send(("behind", {"count": int(ring.header[H.BEHIND]), "input_frame": k * block,
                                          "calls": slot.stream.calls}))
            if osc is not None and ring.header[H.ACTIVE] and slot.controls is not None:
                osc(slot.controls)
            k += 1


def _wait_for_stop(conn) -> None:
    try:
        while conn.recv()[0] != "stop":
            pass
    except (EOFError, OSError):
        pass


def _controls_sender(osc_out, rate_hz: float, block: int, room_rate: int = 48000):
    """/rehearsal/latent/out f f f ... to host:port, at most rate_hz a second (0: every block)."""
    import socket

    from pythonosc.osc_message_builder import OscMessageBuilder

    host, port = osc_out[0], int(osc_out[1])
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    every = max(1, round(room_rate / block / rate_hz)) if rate_hz > 0 else 1
    due = [0]

    def send(values) -> None:
        due[0] -= 1
        if due[0] > 0:
            return
        due[0] = every
        b = OscMessageBuilder("/rehearsal/latent/out")
        for v in values:
            b.add_arg(float(v), "f")
        try:
            sock.sendto(b.build().dgram, (host, port))
        except OSError:
            pass   # nobody listening, or the buffer is full: controls are best effort

    return send


if __name__ == "__main__":
    main()
