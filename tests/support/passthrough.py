"""A bare PortAudio pass-through (input -> output, nothing else), to measure the audio
interface's own latency on the test JACK server: `python -m tests.support.passthrough`.
Prints "ready" once the stream runs; stops when stdin closes."""

import sys

import sounddevice as sd


def main() -> None:
    def callback(indata, outdata, frames, time, status):
        outdata[:] = indata[:, :1]

    with sd.Stream(channels=(1, 1), samplerate=48000, blocksize=int(sys.argv[1]) if len(sys.argv) > 1 else 256,
                   dtype="float32", latency="low", callback=callback):
        print("ready", flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
