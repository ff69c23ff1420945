"""Benchmark: the TUI in a real terminal (tmux), recording from JACK, OSC at 200 tags/s.

    .venv/bin/python bench/tui.py [--seconds 20] [--presses 40] [--rate 200] [--period 256]

Runs the real `rehearsal` command in tmux against its own JACK dummy server (the input is
PortAudio's JACK device, as on a real machine), with REHEARSAL_TUI_PROBE set so the app
writes its own timings (rehearsal/tui/probe.py). Reports:

- start-up time to the first frame (median of 5 launches; goal < 1.5 s) and whether torch
  was imported (goal: never); baseline in the same run: a bare Textual app started the
  same way, so the ratio says what rehearsal adds;
- input overflows during the session (goal 0), with and without the OSC flood;
- key press -> flash, and key press -> committed tag drawn in the log (median, p95): the
  press time is the key event's time, "drawn" is after the screen refresh that showed it.
  The tag waits the keyboard source's auto-repeat window (120 ms) by design; the flash
  does not. Baseline in the same run: the same presses without the OSC flood;
- meter updates per second while recording (goal >= 20); OSC tags stored / sent;
- baseline for overflows: `rehearsal record` (no TUI) for as long, with the same flood.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.jackserver import JackServer, realtime_allowed  # noqa: E402

COLS, ROWS = 120, 40


class Tmux:
    def __init__(self, socket: str):
        self.socket = socket

    def run(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True, text=True,
                              check=check, timeout=10).stdout

    def start(self, command: str, env: dict) -> None:
        exports = " ".join(f"{k}='{v}'" for k, v in env.items())
        self.run("new-session", "-d", "-s", "b", "-x", str(COLS), "-y", str(ROWS),
                 f"env -u COLUMNS -u LINES {exports} {command}; echo EXITED $?; sleep 30")
        self.run("set-option", "-t", "b", "window-size", "manual", check=False)
        self.run("resize-window", "-t", "b", "-x", str(COLS), "-y", str(ROWS), check=False)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "b")

    def wait(self, needle: str, timeout: float = 40.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.screen():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{needle!r} not on screen:\n{self.screen()}")
            time.sleep(0.02)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "b", *keys)

    def kill(self) -> None:
        self.run("kill-server", check=False)


def wait_file(path: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} was not written")
        time.sleep(0.005)
    return path.read_text()


BARE_APP = """
import sys, time
from textual.app import App
from textual.widgets import Static
class Bare(App):
    def compose(self):
        yield Static("hello")
    def on_mount(self):
        self.call_after_refresh(self.first)
    def first(self):
        open(sys.argv[1], "w").write(f"first-frame {time.time():.6f} {int('torch' in sys.modules)}\\n")
        self.exit()
Bare().run()
"""


def startup(runs: int, env: dict, tmp: Path) -> dict:
    """Wall time from launching the command in the terminal to its first frame."""
    out = {}
    for name in ("rehearsal", "bare textual app"):
        times, torch = [], []
        for i in range(runs):
            probe = tmp / f"startup-{name[:4]}-{i}.txt"
            tmux = Tmux(f"rehearsal-bench-start-{os.getpid()}-{i}")
            if name == "rehearsal":
                home = tmp / f"start-ws-{i}"
                cmd = f"{sys.executable} -m rehearsal --home {home} --demo --no-midi --no-osc"
                e = {**env, "REHEARSAL_TUI_PROBE": str(probe)}
            else:
                script = tmp / "bare.py"
                script.write_text(BARE_APP)
                cmd = f"{sys.executable} {script} {probe}"
                e = env
            t0 = time.time()
            tmux.start(cmd, e)
            try:
                line = next(l for l in wait_file(probe).splitlines() if l.startswith("first-frame"))
                _, wall, imported = line.split()
                times.append(float(wall) - t0)
                torch.append(imported == "1")
            finally:
                if name == "rehearsal":
                    tmux.keys("C-q")
                    try:
                        tmux.wait("EXITED", 20)
                    except RuntimeError:
                        pass
                tmux.kill()
        out[name] = {"median": statistics.median(times), "max": max(times), "torch": any(torch)}
    return out


def osc_flood(port: int, rate: int, seconds: float) -> subprocess.Popen:
    code = f"""
import time
from pythonosc.udp_client import SimpleUDPClient
c = SimpleUDPClient('127.0.0.1', {port})
n = 0; t0 = time.monotonic(); end = t0 + {seconds}
while time.monotonic() < end:
    due = t0 + n / {rate}
    d = due - time.monotonic()
    if d > 0: time.sleep(d)
    c.send_message('/rehearsal/tag', ['good', 'flood'])
    n += 1
print(n)
"""
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def session(env: dict, tmp: Path, seconds: float, presses: int, rate: int, flood: bool) -> dict:
    """One recording in the real terminal: key presses (and the OSC flood), timings from the probe."""
    from rehearsal.store import Workspace, open_db

    home = tmp / ("ws-flood" if flood else "ws-quiet")
    probe = tmp / ("probe-flood.txt" if flood else "probe-quiet.txt")
    port = free_udp_port()
    tmux = Tmux(f"rehearsal-bench-{os.getpid()}-{int(flood)}")
    cmd = f"{sys.executable} -m rehearsal --home {home} --session bench --no-midi --osc-port {port}"
    tmux.start(cmd, {**env, "REHEARSAL_TUI_PROBE": str(probe)})
    sent = 0
    try:
        tmux.wait("○ stopped")
        tmux.keys("C-r")
        tmux.wait("● REC take 1")
        t_rec = time.monotonic()
        sender = osc_flood(port, rate, seconds) if flood else None
        gap = max(0.25, seconds / (presses + 1))       # apart from each other: never an auto-repeat
        next_at = time.monotonic() + gap
        for _ in range(presses):
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)                       # the player's rhythm: the stimulus, not a wait
            tmux.keys("g")
            next_at += gap
        if sender is not None:
            sent = int(sender.communicate(timeout=seconds + 30)[0].strip() or 0)
        recorded = time.monotonic() - t_rec
        tmux.keys("C-r")
        tmux.wait("○ stopped", 60)
        tmux.keys("C-q")
        tmux.wait("EXITED 0", 60)
    finally:
        tmux.kill()
    lines = [l.split() for l in probe.read_text().splitlines()]
    keys = [(float(l[1]), float(l[2])) for l in lines if l[0] == "key"]
    shown = [float(l[3]) for l in lines if l[0] == "shown" and l[2] == "key"]
    ticks = [(int(l[1]), float(l[2])) for l in lines if l[0] == "ticks"]
    rec = [int(l[3]) for l in lines if l[0] == "ticks" and l[4] == "1"]
    before = [int(l[3]) for l in lines if l[0] == "ticks" and l[4] == "0"]
    flash = [f - k for k, f in keys]
    tag = [s - k for (k, _), s in zip(keys, shown)]
    rate_ticks = (ticks[-1][0] - ticks[0][0]) / (ticks[-1][1] - ticks[0][1]) if len(ticks) > 1 else 0.0
    ws = Workspace.at(home)
    db = open_db(ws.db_path)
    try:
        take = next(db.query("SELECT * FROM takes ORDER BY id DESC LIMIT 1"))
        stored_osc = db.execute("SELECT COUNT(*) FROM markers WHERE take_id = ? AND source LIKE 'osc:%'",
                                [take["id"]]).fetchone()[0]
        stored_keys = db.execute("SELECT COUNT(*) FROM markers WHERE take_id = ? AND source = 'key'",
                                 [take["id"]]).fetchone()[0]
    finally:
        db.conn.close()
    return {
        "overflows": take["overflows"], "seconds": recorded,
        "overflows_recording": (rec[-1] - rec[0]) if rec else 0, "overflows_before": before[-1] if before else 0, "presses": presses, "keys_stored": stored_keys,
        "flash": flash, "tag": tag, "meter_hz": rate_ticks, "sent": sent, "stored_osc": stored_osc,
    }


def headless(env: dict, tmp: Path, seconds: float, rate: int) -> dict:
    """Baseline for overflows: `rehearsal record` (no TUI) on the same server, same OSC flood."""
    from rehearsal.store import Workspace, open_db

    home = tmp / "ws-headless"
    port = free_udp_port()
    proc = subprocess.Popen([sys.executable, "-m", "rehearsal", "--home", str(home), "record", "--session", "bench",
                             "--duration", str(seconds + 1), "--osc-port", str(port)],
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while proc.stderr and "recording take" not in (line := proc.stderr.readline()):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"rehearsal record did not start: {line}")
    sent = int(osc_flood(port, rate, seconds).communicate(timeout=seconds + 30)[0].strip() or 0)
    proc.wait(60)
    db = open_db(Workspace.at(home).db_path)
    try:
        take = next(db.query("SELECT * FROM takes ORDER BY id DESC LIMIT 1"))
        stored = db.execute("SELECT COUNT(*) FROM markers WHERE take_id = ?", [take["id"]]).fetchone()[0]
    finally:
        db.conn.close()
    return {"overflows": take["overflows"], "sent": sent, "stored": stored}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--presses", type=int, default=40)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--period", type=int, default=256)
    ap.add_argument("--startup-runs", type=int, default=5)
    ap.add_argument("--no-realtime", action="store_true", help="run jackd without SCHED_FIFO")
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is needed (scripts/setup --test installs it)")
    realtime = not args.no_realtime and realtime_allowed()
    server = JackServer(f"rehearsal-bench-{os.getpid()}", period=args.period, realtime=realtime).start()
    env = {"JACK_DEFAULT_SERVER": server.name, "JACK_NO_START_SERVER": "1", "LANG": "C.UTF-8",
           "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
    try:
        with tempfile.TemporaryDirectory() as t:
            tmp = Path(t)
            s = startup(args.startup_runs, env, tmp)
            quiet = session(env, tmp, args.seconds, args.presses, args.rate, flood=False)
            flood = session(env, tmp, args.seconds, args.presses, args.rate, flood=True)
            base = headless(env, tmp, args.seconds, args.rate)
    finally:
        server.stop()

    r, b = s["rehearsal"], s["bare textual app"]
    print(f"tui bench: real terminal (tmux {COLS}x{ROWS}), JACK dummy 48 kHz period {args.period} "
          f"({'realtime' if realtime else 'no-realtime'}), {args.seconds:.0f} s takes, {args.presses} key presses")
    print(f"  start-up to first frame  median {r['median']:.2f} s, max {r['max']:.2f} s   (goal < 1.5 s); "
          f"bare Textual app {b['median']:.2f} s -> ratio {r['median'] / b['median']:.2f}")
    print(f"  torch imported           {'YES' if r['torch'] else 'no'}   (goal no)")
    for name, x in (("quiet", quiet), (f"OSC {args.rate}/s", flood)):
        print(f"  [{name}] input overflows {x['overflows']} (goal 0): {x['overflows_before']} before recording, "
              f"{x['overflows_recording']} while recording; meter updates {x['meter_hz']:.1f}/s (goal >= 20); "
              f"key tags stored {x['keys_stored']}/{x['presses']}")
        print(f"  [{name}] key -> flash    median {1000 * statistics.median(x['flash']):.1f} ms, "
              f"p95 {1000 * pct(x['flash'], 95):.1f} ms")
        print(f"  [{name}] key -> tag drawn median {1000 * statistics.median(x['tag']):.1f} ms, "
              f"p95 {1000 * pct(x['tag'], 95):.1f} ms (includes the 120 ms auto-repeat window)")
    print(f"  baseline: rehearsal record (no TUI), same server and flood: input overflows {base['overflows']}, "
          f"tags stored {base['stored']}/{base['sent']}")
    print(f"  OSC tags stored / sent   {flood['stored_osc']}/{flood['sent']} = "
          f"{flood['stored_osc'] / max(1, flood['sent']):.4f}   (goal 1.0)")
    print(f"  ratio flood / quiet      key -> tag median "
          f"{statistics.median(flood['tag']) / statistics.median(quiet['tag']):.2f}, "
          f"p95 {pct(flood['tag'], 95) / pct(quiet['tag'], 95):.2f}")


if __name__ == "__main__":
    main()
