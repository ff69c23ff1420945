"""Benchmark (issue 12): record while OSC is hammered and another process holds the database.

    .venv/bin/python bench/abuse.py [--seconds 60] [--lock-seconds 30] [--period 128]

For --seconds of recording (48 kHz, JACK dummy driver): 8 local senders (127.0.0.3-10) each
send malformed datagrams (8 KB of unknown type tags, garbage) and floods of valid tags under
their own rate limit; another process holds a write transaction on the database for
--lock-seconds (from 10 s in); a legitimate OSC sender (127.0.0.2, a process like the
flooders, no special status) sends 20 tags/s. Reports: legitimate tags stored / sent (goal 1.0), audio frames / (wall x rate)
(goal 1.0 +- 0.001), stderr lines of the recording process (goal < 100), input overflows.
MIDI half (rtmidi over the same JACK server, into rehearsal's virtual port): one process
sends 5,000 CC/s (CC 1, unbound), an 8 KB sysex every 100 ms and an unterminated
`F0 7D 01` every 2 s; another, a pedal with no special status, taps CC 64 once a second.
Reports pedal taps stored / sent (goal 1.0) and the MIDI counters (recovered, unterminated).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.jackserver import JackServer, realtime_allowed  # noqa: E402

FLOODER = """
import socket, sys, time
from pythonosc.osc_message_builder import OscMessageBuilder
ip, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((ip, 0))
b = OscMessageBuilder('/rehearsal/tag'); b.add_arg('bad'); b.add_arg('flood'); good = b.build().dgram
bad = b'/rehearsal/tag\\x00\\x00,' + b'Z' * 8000; bad += b'\\x00' * (4 - len(bad) % 4)
end = time.monotonic() + seconds; n = 0
while time.monotonic() < end:
    for _ in range(19): s.sendto(good, ('127.0.0.1', port))     # ~1,900 tags/s: under 2,000/s
    s.sendto(bad, ('127.0.0.1', port)); s.sendto(b'\\x00garbage', ('127.0.0.1', port))
    n += 1; time.sleep(0.01)
"""

LEGIT = """
import socket, sys, time
from pythonosc.osc_message_builder import OscMessageBuilder
port, seconds = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.2', 0))
b = OscMessageBuilder('/rehearsal/tag'); b.add_arg('good'); b.add_arg('legit'); dgram = b.build().dgram
t0 = time.monotonic(); n = 0
while time.monotonic() < t0 + seconds:
    s.sendto(dgram, ('127.0.0.1', port)); n += 1
    time.sleep(max(0.0, t0 + n * 0.05 - time.monotonic()))      # 20 tags/s
print(n, flush=True)
"""

MIDI_FLOOD = """
import sys, time, rtmidi
seconds = float(sys.argv[1])
out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name='midi-flooder')
out.open_port(out.get_ports().index('RtMidiIn Client:rehearsal'))
big = [0xF0, 0x7D] + [i % 128 for i in range(8000)] + [0xF7]
t0 = time.monotonic(); n = 0; cc = 0
while time.monotonic() < t0 + seconds:
    for _ in range(50):
        out.send_message([0xB0, 1, cc % 128]); cc += 1     # 50 per 10 ms: 5,000 CC/s
    if n % 10 == 0: out.send_message(big)
    if n % 200 == 0: out.send_message([0xF0, 0x7D, 0x01])  # unterminated
    n += 1; time.sleep(max(0.0, t0 + n * 0.01 - time.monotonic()))
print(cc, flush=True); out.delete()
"""

PEDAL = """
import sys, time, rtmidi
seconds = float(sys.argv[1])
out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name='pedal')
out.open_port(out.get_ports().index('RtMidiIn Client:rehearsal'))
time.sleep(0.5)   # a new JACK connection takes effect at a cycle boundary
t0 = time.monotonic(); taps = 0
while time.monotonic() < t0 + seconds - 1.5:
    out.send_message([0xB0, 64, 127]); time.sleep(0.05); out.send_message([0xB0, 64, 0]); taps += 1
    time.sleep(0.95)
print(taps, flush=True); time.sleep(0.5); out.delete()
"""

LOCKER = """
import sqlite3, sys, time
time.sleep(float(sys.argv[2]))
c = sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN IMMEDIATE')
c.execute("UPDATE sessions SET name = name"); print('locked', flush=True)
time.sleep(float(sys.argv[3])); c.execute('ROLLBACK'); print('released', flush=True)
"""


def udp_drops(port: int) -> int:
    """Datagrams the kernel dropped for the UDP socket on `port` (Linux /proc/net/udp)."""
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            return int(fields[-1])
    return -1


def child(seconds: float, lock_seconds: float, home: Path, without: set[str]) -> dict:
    from rehearsal.audio import RecorderConfig
    from rehearsal.markers.midi import MidiSource
    from rehearsal.markers.osc import OscSource
    from rehearsal.notation import find_notation, load_notation
    from rehearsal.room import Room
    from rehearsal.store import Workspace, open_db

    ws = Workspace.at(home)
    notation = load_notation(find_notation("good-bad-pedal"))
    room = Room(ws, "abuse", notation, RecorderConfig(channels=1, preroll_s=0)).open()
    sr = room.recorder.samplerate

    async def main() -> dict:
        allow = [f"127.0.0.{i}" for i in range(2, 11)]
        osc = await OscSource(room.bus, notation, host="0.0.0.0", port=0, allow=allow).start()
        midi = MidiSource(room.bus, notation, api="jack", virtual="rehearsal")
        room.start_take()
        wall0 = time.monotonic()
        # the stream's frame counter at two moments: frames / (wall x rate) of the recording
        # itself, not of the commands around it (stop_take waits for the bus's flood backlog)
        st0 = room.recorder.status()
        stream0 = (time.monotonic(), st0.frames, st0.gap_frames)
        # --without osc / midi / lock leaves out a hammer (to find what costs what); the
        # legitimate sender and the pedal always play
        midi_procs = [subprocess.Popen([sys.executable, "-c", code, str(seconds if code is PEDAL or "midi" not in without else 0)],
                                       stdout=subprocess.PIPE, text=True) for code in (MIDI_FLOOD, PEDAL)]
        procs = [subprocess.Popen([sys.executable, "-c", FLOODER, f"127.0.0.{i}", str(osc.port), str(seconds)])
                 for i in range(3, 11) if "osc" not in without]
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(ws.db_path), "10",
                                   str(0 if "lock" in without else lock_seconds)], stdout=subprocess.PIPE, text=True)
        legit = subprocess.Popen([sys.executable, "-c", LEGIT, str(osc.port), str(seconds)],
                                 stdout=subprocess.PIPE, text=True)
        sent = int((await asyncio.to_thread(legit.communicate))[0].split()[-1])
        for p in procs:
            await asyncio.to_thread(p.wait)
        await asyncio.to_thread(locker.wait)
        cc_sent, pedal_sent = [int((await asyncio.to_thread(p.communicate))[0].split()[-1]) for p in midi_procs]
        st1 = room.recorder.status()
        stream1 = (time.monotonic(), st1.frames, st1.gap_frames)
        await asyncio.sleep(1.0)   # the last tap's double-tap window
        midi.close()
        await asyncio.to_thread(room.bus.flush, 60)
        take = room.stop_take()
        wall = time.monotonic() - wall0
        stats = osc.stats()
        drops = udp_drops(osc.port)
        osc.close()
        legit_osc = next((s for s in stats["senders"] if s["ip"] == "127.0.0.2"), {})
        stream_ratio = (stream1[1] - stream0[1]) / ((stream1[0] - stream0[0]) * sr)
        # without the silence written for missed cycles and dropouts: what the server delivered
        delivered_ratio = (stream1[1] - stream0[1] - (stream1[2] - stream0[2])) / ((stream1[0] - stream0[0]) * sr)
        return {"take": take, "sent": sent, "wall": wall, "stream_ratio": stream_ratio, "delivered_ratio": delivered_ratio, "osc": stats["counts"], "udp_drops": drops,
                "legit_osc": legit_osc, "bus_rejected": dict(room.bus.summary.counts),
                "midi_gestures": midi.stats().get("gestures"),
                "pedal_sent": pedal_sent, "cc_sent": cc_sent, "midi": midi.stats()["counts"]}

    try:
        r = asyncio.run(main())
    finally:
        room.close()
    db = open_db(ws.db_path)
    stored = db.execute("SELECT COUNT(*) FROM markers WHERE who = 'legit'").fetchone()[0]
    flood = db.execute("SELECT COUNT(*) FROM markers WHERE who = 'flood'").fetchone()[0]
    pedal = db.execute("SELECT COUNT(*) FROM markers WHERE source = 'midi:rehearsal' AND symbol = 'good'").fetchone()[0]
    pedal_rows = db.execute("SELECT symbol, deleted_at IS NOT NULL, COUNT(*) FROM markers WHERE source = 'midi:rehearsal' "
                            "GROUP BY 1, 2").fetchall()
    take = r["take"]
    return {"legit_sent": r["sent"], "legit_stored": stored, "legit_ratio": stored / max(r["sent"], 1),
            "flood_stored": flood, "frames": take["frames"], "overflows": take["overflows"],
            "gap_frames": take.get("gap_frames", 0),
            "frames_per_wall_rate": r["stream_ratio"], "delivered_per_wall_rate": r["delivered_ratio"], "take_frames_per_wall_rate": take["frames"] / (r["wall"] * sr), "wall": r["wall"], "osc": r["osc"],
            "pedal_sent": r["pedal_sent"], "pedal_stored": pedal, "pedal_ratio": pedal / max(r["pedal_sent"], 1),
            "cc_sent": r["cc_sent"], "midi": r["midi"], "pedal_rows": pedal_rows, "udp_drops": r["udp_drops"],
            "legit_osc": r["legit_osc"], "bus_rejected": r["bus_rejected"], "midi_gestures": r["midi_gestures"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--lock-seconds", type=float, default=30.0)
    ap.add_argument("--period", type=int, default=128, help="JACK period in frames (128: 2.7 ms at 48 kHz)")
    ap.add_argument("--no-realtime", action="store_true",
                    help="run jackd without SCHED_FIFO (as the tests do); real set-ups run JACK realtime")
    ap.add_argument("--without", default="", help="leave out hammers, comma-separated: osc, midi, lock "
                    "(to see what costs what; the legitimate sender and the pedal always play)")
    ap.add_argument("--no-control", action="store_true",
                    help="skip the control recording (no floods, no lock) run right after, for the machine's own xruns")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(child(args.seconds, args.lock_seconds, Path(tmp) / "ws",
                                   set(filter(None, args.without.split(","))))), flush=True)
        if "sounddevice" in sys.modules:
            sys.modules["sounddevice"]._terminate()
        return
    realtime = not args.no_realtime and realtime_allowed()
    r, jack_log = run_child(args, args.without, realtime)
    control = None
    if not args.no_control:     # back to back, the same machine: what the machine's own xruns are
        control = run_child(args, "osc,midi,lock", realtime)
    stderr_lines = r["stderr"]
    print(f"abuse bench: {args.seconds:.0f} s recording, 8 OSC flooders (malformed + valid floods), "
          f"database locked {args.lock_seconds:.0f} s by another process; "
          f"JACK dummy, period {args.period}, {'realtime' if realtime else 'no-realtime'}; load {r['load']:.1f}"
          + (f"; WITHOUT {args.without}" if args.without else ""))
    print(f"  legitimate tags stored / sent  {r['legit_ratio']:.4f}  ({r['legit_stored']}/{r['legit_sent']}; goal 1.0)")
    print(f"  pedal taps stored / sent       {r['pedal_ratio']:.4f}  ({r['pedal_stored']}/{r['pedal_sent']}; goal 1.0)")
    print(f"  MIDI flood: {r['cc_sent']} CC sent; counters {r['midi']}")
    print(f"  frames / (wall x rate)         {r['frames_per_wall_rate']:.4f}  (goal 1.0 +- 0.001; the stream while "
          f"hammered; the take from start_take to after stop_take: {r['take_frames_per_wall_rate']:.4f})")
    print(f"    as the server delivered them {r['delivered_per_wall_rate']:.4f}  (without the silence below: the JACK "
          "server's own stalls, which no frame counter shows)")
    print(f"  stderr lines                   {len(stderr_lines)}  (goal < 100)")
    print(f"  input overflows                {r['overflows']}  (goal 0; PortAudio flags every xrun of the JACK graph)")
    print(f"    jackd's xruns by cause       {xrun_causes(jack_log)}")
    print(f"  frames filled with silence     {r['gap_frames']}  (missed cycles and the server's dropouts, "
          "so the take keeps the room's time; nothing the server delivered is lost)")
    if control is not None:
        c, c_log = control
        print(f"  control, right after: the same recording with the legitimate sender and the pedal only "
              f"(no floods, no lock), load {c['load']:.1f}:")
        print(f"    input overflows              {c['overflows']}; frames filled {c['gap_frames']}; "
              f"frames / (wall x rate) {c['frames_per_wall_rate']:.4f} (as delivered {c['delivered_per_wall_rate']:.4f})")
        print(f"    jackd's xruns by cause       {xrun_causes(c_log)}")
    print(f"  pedal markers (symbol, undone, n) {r['pedal_rows']}; gestures {r['midi_gestures']}")
    print(f"  legitimate OSC sender as seen {r['legit_osc']}; kernel UDP drops {r['udp_drops']}")
    print(f"  bus rejections {r['bus_rejected']}")
    print(f"  flood tags stored              {r['flood_stored']}; OSC counters {r['osc']}")
    kinds = Counter(re.sub(r"[0-9.]+", "N", line)[:60] for line in stderr_lines)
    print("  stderr lines by kind (digits as N):\n    " + "\n    ".join(f"{n:6d}  {k!r}" for k, n in kinds.most_common(12)))
    print("  jackd's log by kind (digits as N):\n    "
          + "\n    ".join(f"{n:6d}  {k!r}" for k, n in jack_log.most_common(10)))
    print("  stderr (first 10 lines):\n    " + "\n    ".join(stderr_lines[:10]))


def run_child(args, without: str, realtime: bool) -> tuple[dict, Counter]:
    """One recording under its own JACK server: (the child's figures, jackd's log by kind)."""
    server = JackServer(f"rehearsal-abuse-{os.getpid()}", period=args.period, realtime=realtime).start()
    try:
        out = subprocess.run([sys.executable, __file__, "--child", "--seconds", str(args.seconds),
                              "--lock-seconds", str(args.lock_seconds), "--without", without],
                             capture_output=True, text=True, timeout=args.seconds * 3 + 120, env=os.environ)
    finally:
        server.stop()
    lines = out.stdout.strip().splitlines()
    if not lines:
        print(out.stderr[-3000:])
        raise SystemExit("abuse bench: the recording process gave no result")
    r = json.loads(lines[-1])
    r["stderr"] = out.stderr.splitlines()
    r["load"] = os.getloadavg()[0]
    return r, server.log_kinds


def xrun_causes(log_kinds: Counter) -> str:
    """jackd's log in words. "JackTimedDriver::Process XRun" is the server's own thread waking
    late (the machine: it happens with no client at all); "client = X was not finished,
    state = Running" is X's process callback too slow, "Triggered" X not started in time
    (not scheduled, or a client before it late). PortAudio is the recorder's capture."""
    server = sum(n for k, n in log_kinds.items() if k.startswith("JackTimedDriver::Process XRun"))
    late = Counter()
    for k, n in log_kinds.items():
        m = re.match(r"JackEngine::XRun: client = (.*) was not finished, state = (\w+)", k)
        if m:
            late[f"{'recorder' if m[1] == 'PortAudio' else m[1]} {m[2].lower()}"] += n
    return f"server thread late {server}; " + ", ".join(f"{k} {n}" for k, n in late.most_common())


if __name__ == "__main__":
    main()
