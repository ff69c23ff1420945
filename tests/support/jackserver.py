"""A real JACK server with the dummy driver, one per test run.

PortAudio reads JACK_DEFAULT_SERVER when sounddevice is imported, so the server must be up
(and the variable set) before anything imports sounddevice: conftest starts it in
pytest_configure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections import Counter, deque
from pathlib import Path

SAMPLE_RATE = 48000
PERIOD = 256


def _jackd_running() -> bool:
    return subprocess.run(["pgrep", "-x", "jackd"], capture_output=True).returncode == 0


def realtime_allowed() -> bool:
    """Whether this process may use SCHED_FIFO (jackd -R needs it)."""
    try:
        return subprocess.run(["chrt", "-f", "1", "true"], capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


def _die_with_parent() -> None:
    """Runs in the child before exec: a test run killed by a timeout must not leave its
    server behind (JACK allows only a few at once)."""
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


_PROBE = """
import sys, time
import jack
jack.set_error_function(lambda msg: None)
deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        jack.Client("probe", servername=sys.argv[1], no_start_server=True).close()
        break
    except jack.JackOpenError:
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.05)
"""


class JackServer:
    def __init__(self, name: str, rate: int = SAMPLE_RATE, period: int = PERIOD, realtime: bool = False,
                 synchronous: bool | None = None, second: bool = False):
        """The server is synchronous (-S: it waits for late clients, so a stall loses nothing)
        unless `synchronous` is False (then a late client misses cycles); by default it is
        synchronous when not realtime, as the tests need, and not when realtime, as a real
        set-up runs it. Realtime (-R, SCHED_FIFO) keeps the driver's clock on time on a busy
        machine: the tests judged against real time run so where the machine allows it.
        `second`: a server beside the one this process's libjack already talks to (libjack
        serves one server per process, a second crashes it): it is asked whether it is up
        from a child process, and this process must use it only through children."""
        self.name, self.rate, self.period, self.realtime = name, rate, period, realtime
        self.synchronous = (not realtime) if synchronous is None else synchronous
        self.second = second
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> "JackServer":
        try:
            return self._start(timeout)
        except RuntimeError as exc:
            # servers killed hard (a timeout, kill -9) leave their entries in JACK's shared
            # memory registry, which counts them against its limit of a few servers; with no
            # jackd running at all, those entries are stale and safe to remove
            if "Too many servers" not in str(exc) or _jackd_running():
                raise
            for stale in Path("/dev/shm").glob("jack*"):
                if stale.is_dir():
                    shutil.rmtree(stale, ignore_errors=True)
                else:
                    stale.unlink(missing_ok=True)
            return self._start(timeout)

    def _start(self, timeout: float) -> "JackServer":
        jackd = shutil.which("jackd")
        if jackd is None:
            raise RuntimeError("jackd not found: install Debian's jackd2 (scripts/setup does)")
        self.proc = subprocess.Popen(
            [jackd, "-n", self.name, *(["-R", "-P", "70"] if self.realtime else ["--no-realtime"]),
             *(["-S"] if self.synchronous else []),
             "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_die_with_parent,
        )
        # jackd logs every late cycle ("JackTimedDriver::Process XRun = 16 usec"); a pipe
        # nobody reads fills up (64 KiB: about 1,800 of them on a loaded machine) and then
        # jackd blocks writing to it and every client hangs. So a thread keeps reading it,
        # the last lines kept for the error message.
        self._log: deque[bytes] = deque(maxlen=50)
        self.log_kinds: Counter = Counter()   # every line jackd logged, digits as N (the benches report xruns)
        self._reader = threading.Thread(target=self._drain, args=(self.proc.stderr,), name="jackd-stderr", daemon=True)
        self._reader.start()
        os.environ["JACK_DEFAULT_SERVER"] = self.name
        os.environ["JACK_NO_START_SERVER"] = "1"
        if self.second:
            return self._wait_apart(timeout)
        deadline = time.monotonic() + timeout
        import jack

        jack.set_error_function(lambda msg: None)  # "cannot connect" while it boots is expected
        while True:  # synchronise on the server answering, not on a sleep
            if self.proc.poll() is not None:
                self._reader.join(5)     # it ends with jackd's last words (end of the pipe)
                raise RuntimeError(f"jackd exited: {b''.join(self._log).decode(errors='replace')[-500:]}")
            try:
                client = jack.Client("probe", servername=self.name, no_start_server=True)
                client.close()
                jack.set_error_function()
                return self
            except jack.JackOpenError:
                if time.monotonic() > deadline:
                    raise RuntimeError("jackd did not answer in time")
                time.sleep(0.05)

    def _wait_apart(self, timeout: float) -> "JackServer":
        """A child process waits on the server answering (the same loop as `_start`'s)."""
        import sys

        probe = subprocess.run([sys.executable, "-c", _PROBE, self.name, str(timeout)], capture_output=True,
                               timeout=timeout + 30)
        if self.proc.poll() is not None:
            self._reader.join(5)
            raise RuntimeError(f"jackd exited: {b''.join(self._log).decode(errors='replace')[-500:]}")
        if probe.returncode != 0:
            raise RuntimeError("jackd did not answer in time")
        return self

    def _drain(self, pipe) -> None:
        for line in iter(pipe.readline, b""):
            self._log.append(line)
            self.log_kinds[re.sub(rb"[0-9]+", b"N", line.strip())[:90].decode(errors="replace")] += 1

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
