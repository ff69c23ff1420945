"""The play process's handle on a model host (host.py): start, load, stop, messages."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from multiprocessing.connection import Connection

from ..launch import end_child, python_module
from . import shared as H


class Host:
    RING_BLOCKS = 256

    def __init__(self, engine):
        self.ring = H.HostRing.create(blocks=self.RING_BLOCKS, block=engine.render_block)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        ours, theirs = socket.socketpair()
        cfg = {"input": engine.model_in.name, "capacity": engine.model_in.capacity, "ring": self.ring.name,
               "blocks": self.RING_BLOCKS, "block": engine.render_block,
               "room_rate": engine.samplerate, "osc_out": engine.cfg.get("osc_out"),
               "control_rate": engine.cfg.get("control_rate", 0), "coperform": engine.cfg.get("coperform")}
        self.proc = subprocess.Popen(
            python_module("rehearsal.play.host", json.dumps(cfg), str(theirs.fileno()), str(self.wake_r)),
            pass_fds=[theirs.fileno(), self.wake_r], stdin=subprocess.DEVNULL)
        # no preexec_fn: it would make Python fork() this real-time process, whose callback
        # then page-faults on every write until the child execs (measured: dozens of
        # xruns per host started); without it the child is spawned with vfork. The host
        # arranges to die with us itself, and ends when its connection closes.
        theirs.close()
        os.close(self.wake_r)
        self.conn = Connection(ours.detach())
        self.state = "starting"          # spare, loading, loaded, failed
        self.retired: str | None = None  # why the mixer let it go
        self.reported_dead = False
        self.generation_id: int | None = None
        self.name = "model"
        self.warm_blocks = 0

    def load(self, req: dict) -> None:
        self.generation_id, self.name = req.get("generation_id"), req.get("name") or "model"
        self.state = "loading"
        self.conn.send(("load", req))

    def messages(self) -> list:
        out = []
        try:
            while self.conn.poll():
                out.append(self.conn.recv())
        except (EOFError, OSError):
            pass
        return out

    def alive(self) -> bool:
        return self.proc.poll() is None

    def exit_reason(self) -> str:
        code = self.proc.poll()
        if code is None:
            return "running"
        return f"signal {-code}" if code < 0 else f"exit status {code}"

    def stop(self) -> None:
        try:
            self.conn.send(("stop",))
            os.write(self.wake_w, b"\0")
        except (OSError, BlockingIOError):
            pass

    def close(self, timeout: float = 5.0) -> None:
        end_child(self.proc, timeout)
        try:
            os.close(self.wake_w)
        except OSError:
            pass
        self.conn.close()
        self.ring.close()
        self.ring = None
