"""Audio capture: a recorder process that never loses a second.

    PortAudio callback --copy--> ring buffer --writer (same process)--> take file (W64, header kept current)
                         \\--> frame counter + clock anchor in shared memory --> marker bus (SampleClock)

The callback runs Python, so a busy Python thread can starve it through the GIL; the whole
capture therefore runs in its own process (`Recorder` spawns it) and the UI, OSC and MIDI
live elsewhere. Importing this package does not import sounddevice: the child does.
"""

from .recorder import Recorder, RecorderConfig, RecorderError, RecorderStatus, TakeStarted, TakeStopped

__all__ = ["Recorder", "RecorderConfig", "RecorderError", "RecorderStatus", "TakeStarted", "TakeStopped"]
