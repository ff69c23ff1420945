"""The harness itself: the JACK server runs and PortAudio sees it."""

import sounddevice as sd


def test_portaudio_sees_the_jack_dummy_server(jack_server):
    apis = [a["name"] for a in sd.query_hostapis()]
    assert any("JACK" in a for a in apis)
    dev = sd.query_devices(kind="input")
    assert dev["max_input_channels"] >= 2
    assert dev["default_samplerate"] == jack_server.rate
