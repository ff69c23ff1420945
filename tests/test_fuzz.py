"""Issue 13: a seeded, bounded fuzz suite over everything a user hands rehearsal.

Mutations of the shipped notations and pipelines (structure-aware: lines dropped, doubled,
swapped; values replaced by hostile ones), valid WAV headers mutated field by field,
checkpoints and TorchScript files (an nn~ export) cut short or altered, the whole record
path fed broken audio; and every reproducer in tests/fuzz_corpus/. Each case
must end in the part's own clear error (or be accepted), never a traceback; each part
prints accepted and rejected counts. Bounded: a fixed number of cases, a fixed seed."""

from __future__ import annotations

import random
import struct
import tomllib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rehearsal.curation.pipeline import PipelineError, parse_pipeline
from rehearsal.notation import NotationError, shipped_notations, validate_notation

ROOT = Path(__file__).parent.parent
CORPUS = Path(__file__).parent / "fuzz_corpus"
SEED = 13
HOSTILE = ['"\\u001b[2J"', '"go\\u200bod"', '"cafe\\u0301"', "-1", "1e308", "nan", "inf", "300", "true",
           '""', '"ctrl+q"', '"pagedwn"', '"f1"', "[" * 40 + "]" * 40, "{a = 1}", '"""\n[[symbols]]\n"""',
           '"/rehearsal/x"', '"x" * 3', "64", '"long-press"', '"note"', '"inverted"', "0"]


def _move_lines(lines: list[str], op: int, i: int, rng: random.Random) -> bool:
    """Ops 0-2, shared by every text mutator: drop, double or swap a line. False for other ops."""
    if op == 0:
        del lines[i]
    elif op == 1:
        lines.insert(i, lines[rng.randrange(len(lines))])
    elif op == 2:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    return op <= 2


def _mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(6)
        i = rng.randrange(len(lines))
        if _move_lines(lines, op, i, rng):
            pass
        elif op == 3 and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {rng.choice(HOSTILE)}"
        elif op == 4 and "=" in lines[i]:   # a key name typo
            key, value = lines[i].split("=", 1)
            k = key.strip()
            if len(k) > 2:
                cut = rng.randrange(len(k))
                lines[i] = f"{k[:cut]}{k[cut + 1:]} ={value}"
        else:
            lines.insert(i, rng.choice(['[[symbols]]', '[[actions]]', '[defaults]', 'id = "good"',
                                        'keys = ["g"]', '  [[symbols.midi]]', 'control = 64', 'press = 0']))
    out = "\n".join(lines) + "\n"
    return ("\ufeff" + out) if rng.random() < 0.05 else out


FLOOR = 0.3   # the share of a family's cases that must get past its first parse layer


def _report(what, accepted, rejected, parsed=None, total=None):
    """A family's counts, printed; where the share past the first parse layer is measured
    (`parsed` of `total`), it is printed and must reach FLOOR, so a family whose mutations
    mostly die in the library's reader (and never reach rehearsal's own checks) fails."""
    total = accepted + rejected if total is None else total
    past = "" if parsed is None else f", {parsed} ({parsed / total:.0%}) past the first parse layer"
    print(f"\nfuzz {what}: {total} cases, {accepted} accepted, {rejected} rejected{past}")
    assert parsed is None or parsed >= FLOOR * total, f"fuzz {what}: {parsed} of {total} past the first parse layer"


def _first_layer(read, *args, **kwargs) -> bool:
    """Whether a case gets past its first parse layer: the library reader (tomllib, libsndfile,
    torch.load) that rehearsal's own checks run after, called alone."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # the reader's talk; what counts is whether it reads the case
            read(*args, **kwargs)
        return True
    except Exception:
        return False


def _parses(text: str) -> bool:
    return _first_layer(tomllib.loads, text.lstrip("\ufeff"))


def test_fuzz_notations():
    rng = random.Random(SEED)
    texts = [p.read_text(encoding="utf-8") for _, p in sorted(shipped_notations().items())]
    cases = [_mutate(rng.choice(texts), rng) for _ in range(400)]
    cases += [p.read_bytes().decode("utf-8") for p in sorted((CORPUS / "notation").glob("*.toml"))]
    accepted = rejected = parsed = 0
    for text in cases:
        parsed += _parses(text)
        notation, errors = validate_notation(text, "fuzz.toml")   # never raises
        if errors:
            rejected += 1
            assert all(isinstance(e, NotationError) and e.message for e in errors)
            assert all("\x1b" not in str(e) for e in errors)
        else:
            accepted += 1
            assert notation is not None and notation.symbols
    _report("notations", accepted, rejected, parsed, len(cases))
    assert accepted and rejected


def test_fuzz_pipelines():
    rng = random.Random(SEED)
    texts = [p.read_text() for p in sorted((ROOT / "plugins" / "pipelines").glob("*.toml"))]
    cases = [_mutate(rng.choice(texts), rng) for _ in range(200)]
    accepted = rejected = parsed = 0
    for text in cases:
        parsed += _parses(text)
        try:
            parse_pipeline(text, "fuzz.toml")
            accepted += 1
        except PipelineError as exc:
            assert str(exc).startswith("fuzz.toml")
            rejected += 1
    _report("pipelines", accepted, rejected, parsed, len(cases))
    assert accepted and rejected


SCORE_HOSTILE = ["\x1b[2J", "go\u200bod", "p\u0301", "-1s", "1e308s", "nans", "0s", "3/0b", "99999999b", '"',
                 '"unclosed', ":] x0", ":] x100000", "[:", ":]", "== ==", "tempo: 0", "tempo: nan", "count-in: 2q",
                 "notation: no-such-notation", "title: \x07", "rest", "ʃ 2s ff ff", "p 2s \"a\" \"b\"", "x" * 1200]


def _mutate_score(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(5)
        i = rng.randrange(len(lines))
        if _move_lines(lines, op, i, rng):
            pass
        elif op == 3 and lines[i].split():
            words = lines[i].split()
            words[rng.randrange(len(words))] = rng.choice(SCORE_HOSTILE)
            lines[i] = " ".join(words)
        else:
            lines.insert(i, rng.choice(SCORE_HOSTILE))
    out = "\n".join(lines) + "\n"
    return ("\ufeff" + out) if rng.random() < 0.05 else out


def test_fuzz_scores():
    """Score files: every case ends in ScoreErrors naming file:line(:column), or a score."""
    from rehearsal.notation.score import ScoreError, validate_score

    rng = random.Random(SEED)
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs" / "examples").glob("*.score"))]
    assert texts, "docs/examples/*.score: the shipped example scores"
    cases = [_mutate_score(rng.choice(texts), rng) for _ in range(300)]
    cases += [p.read_bytes().decode("utf-8") for p in sorted((CORPUS / "score").glob("*.score"))]
    accepted = rejected = 0
    for text in cases:
        score, errors = validate_score(text, "fuzz.score")   # never raises
        if errors:
            rejected += 1
            assert all(isinstance(e, ScoreError) and e.message and str(e).startswith("fuzz.score") for e in errors)
            assert all("\x1b" not in str(e) and "\x07" not in str(e) for e in errors)
        else:
            accepted += 1
            assert score.sounding and len(score.events) <= 20_000
    _report("scores", accepted, rejected)
    assert accepted and rejected


# WAV header fields: (offset, struct format)
_FIELDS = {"riff": (0, "4s"), "riff_size": (4, "<I"), "wave": (8, "4s"), "fmt": (12, "4s"), "fmt_size": (16, "<I"),
           "format": (20, "<H"), "channels": (22, "<H"), "rate": (24, "<I"), "byte_rate": (28, "<I"),
           "block_align": (32, "<H"), "bits": (34, "<H"), "data": (36, "4s"), "data_size": (40, "<I")}
_VALUES = {"4s": [b"\0\0\0\0", b"RIFX", b"JUNK"], "<I": [0, 1, 7, 2**31, 2**32 - 1], "<H": [0, 1, 3, 255, 2**16 - 1]}


def _wav_cases(tmp_path) -> list[tuple[str, bytes]]:
    good = tmp_path / "good.wav"
    sf.write(str(good), np.zeros((480, 2), dtype=np.int16), 48000, subtype="PCM_16")
    base = good.read_bytes()
    cases = []
    for name, (off, fmt) in _FIELDS.items():
        for v in _VALUES[fmt]:
            b = bytearray(base)
            b[off:off + struct.calcsize(fmt)] = struct.pack(fmt, v)
            cases.append((name, bytes(b)))
    cases += [("cut", base[:n]) for n in (0, 4, 12, 20, 36, 43, 44, 45)]
    cases += [(p.name, p.read_bytes()) for p in sorted((CORPUS / "audio").glob("*.wav"))]
    return cases


def _file_source_takes(path: Path) -> bool:
    """Whether the file input opens it (True) or refuses it in words naming the file (False)."""
    from rehearsal.audio.file_source import FileSource

    try:
        src = FileSource(str(path), lambda *a: None)
    except ValueError as exc:
        assert str(exc).startswith(str(path)), path
        return False
    block = np.zeros((512, src.channels), dtype=np.float32)
    src.file.read(out=block, dtype="float32")
    src.close()
    return True


def test_fuzz_audio_headers(tmp_path):
    """Past the first parse layer: libsndfile opens the header, so the file input's own checks
    (rate, frames, a block of content read) judge it."""
    cases = _wav_cases(tmp_path)
    accepted = rejected = opened = 0
    for i, (name, data) in enumerate(cases):
        path = tmp_path / f"case{i}.wav"
        path.write_bytes(data)
        opened += _first_layer(sf.info, str(path))
        if _file_source_takes(path):
            accepted += 1
        else:
            rejected += 1
    _report("audio headers", accepted, rejected, opened, len(cases))
    assert accepted and rejected and len(cases) >= 30


def test_fuzz_broken_audio_through_the_whole_record_path(tmp_path):
    """Broken WAVs through the real `rehearsal record --input-file` (capture process, take
    writer, SQLite): a seeded sample of the header mutations the file input takes and of
    those it refuses, run at once. Each ends in words (exit 1 naming the file) or in a take
    whose audio is readable, finite and as long as its row says; never a traceback."""
    import subprocess
    import sys

    cases = _wav_cases(tmp_path)
    taken, refused = [], []
    for i, (name, data) in enumerate(cases):
        path = tmp_path / f"case{i}.wav"
        path.write_bytes(data)
        (taken if _file_source_takes(path) else refused).append((name, path))
    rng = random.Random(SEED)
    hung = [(n, p) for n, p in taken if n == "channels-255-three-frames.wav"]   # ended before record listened
    chosen = [(n, p, ()) for n, p in hung + rng.sample([t for t in taken if t not in hung], 2)
              + rng.sample(refused, 2)]
    # 64 channels and no preroll: the file streamed past before the take began (all of it at
    # this speed: 0 frames, exit 0); once reported with a capture traceback and a hang
    wide = np.random.default_rng(SEED).uniform(-0.5, 0.5, (1500, 64)).astype(np.float32)
    sf.write(str(tmp_path / "wide.wav"), wide, 48000, subtype="FLOAT")
    chosen.append(("64 channels, --preroll 0", tmp_path / "wide.wav", ("--preroll", "0")))
    rehearsal = str(Path(sys.executable).with_name("rehearsal"))
    runs = [(name, path, tmp_path / f"home{i}", subprocess.Popen(
        [rehearsal, "--home", str(tmp_path / f"home{i}"), "record", "--session", "s", "--notation",
         "good-bad-pedal", "--input-file", str(path), "--speed", "100", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)) for i, (name, path, extra) in enumerate(chosen)]
    accepted = rejected = 0
    for name, path, home, proc in runs:
        out, err = proc.communicate(timeout=60)    # a 3-frame input once hung here for ever
        assert "Traceback" not in err and proc.returncode in (0, 1), (name, proc.returncode, err)
        if proc.returncode == 1:
            assert str(path) in err, (name, err)
            rejected += 1
            continue
        from rehearsal.store import Workspace, open_db

        ws = Workspace.at(home)
        db = open_db(ws.db_path)
        (take,) = db.query("SELECT path, frames, status FROM takes")
        db.conn.close()
        audio = sf.read(str(ws.resolve(take["path"])), dtype="float32", always_2d=True)[0]
        assert len(audio) == take["frames"] and np.isfinite(audio).all(), (name, take)
        if path.name == "wide.wav":
            assert np.array_equal(audio, wide), (name, take)          # the whole file, as it is
        accepted += 1
    _report("audio through record", accepted, rejected)
    assert accepted and rejected


class _Gone:          # a field left out of the payload
    def __repr__(self):
        return "left out"


_GONE = _Gone()
# checkpoint payload fields, each replaced in turn (torch.save writes the altered payload, so
# torch.load reads it and rehearsal's own checks judge it): the header fields of a checkpoint
_PAYLOAD_VALUES = {"format": ["rehearsal-weights", 1, _GONE], "version": [2, "1", _GONE],
                   "family": ["no-such-family", "rave", 7, _GONE], "config_json": ["{nope", "[]", 5, _GONE],
                   "model": [{}, [1.0], _GONE], "step": ["x", -1, None], "elapsed_s": ["x", float("nan")],
                   "metrics_json": ["{nope", "[]", 5]}
_CONFIG_VALUES = {"hidden": [8000, -1, "16", 15], "latent": [0, None], "hop": [1], "sample_rate": [44100]}


def _checkpoint_cases(payload: dict) -> list[tuple[str, object]]:
    """A good checkpoint's payload altered field by field: its header fields, its configuration's
    sizes, and its state dict (a tensor dropped, added, reshaped, made NaN, made a number)."""
    import json

    import torch

    def altered(**fields) -> dict:
        out = {**payload, **fields}
        return {k: v for k, v in out.items() if v is not _GONE}

    cases = [(f"{field}={v!r}", altered(**{field: v})) for field, values in _PAYLOAD_VALUES.items() for v in values]
    config = json.loads(payload["config_json"])
    cases += [(f"config {key}={v!r}", altered(config_json=json.dumps({**config, key: v})))
              for key, values in _CONFIG_VALUES.items() for v in values]
    state = payload["model"]
    first, last = next(iter(state)), next(reversed(state))
    for name, change in [("tensor dropped", lambda s: s.pop(first)), ("tensor added", lambda s: s.update(x=torch.zeros(1))),
                         ("tensor reshaped", lambda s: s.update({last: s[last][:-1]})),
                         ("tensor NaN", lambda s: s.update({last: s[last] * float("nan")})),
                         ("tensor a number", lambda s: s.update({last: 1.0}))]:
        changed = dict(state)
        change(changed)
        cases.append((name, altered(model=changed)))
    return cases


def test_fuzz_model_files(tmp_path):
    """Checkpoints cut, garbled and altered field by field. Past the first parse layer:
    torch.load(weights_only=True) reads the file, so rehearsal's own checks of the payload and
    its state dict judge it."""
    import io

    import torch

    from rehearsal.training.checkpoints import ModelFileError, load_checkpoint, save_checkpoint
    from rehearsal.training.family import get_family

    good = tmp_path / "good.pt"
    small = {"latent": 2, "width": 16, "hidden": 16, "n_analysis_bands": 8, "n_noise_bands": 8, "noise_table": 4096}
    save_checkpoint(good, get_family("latent").build(small), "latent", step=1, elapsed_s=0.1, metrics={})
    base = good.read_bytes()
    rng = random.Random(SEED)
    cases = [(f"cut-{n}", base[:n]) for n in sorted(rng.sample(range(len(base)), 10))]
    for k in range(3):   # flips land in tensor data (accepted) or in the archive (refused)
        b = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        cases.append((f"flip-{k}", bytes(b)))
    for name, payload in _checkpoint_cases(torch.load(good, weights_only=True)):
        buf = io.BytesIO()
        torch.save(payload, buf)
        cases.append((name, buf.getvalue()))
    cases += [(p.name, p.read_bytes()) for p in sorted((CORPUS / "model").glob("*"))]
    accepted = rejected = read = 0
    for i, (name, data) in enumerate(cases):
        path = tmp_path / f"case{i}.pt"
        path.write_bytes(data)
        read += _first_layer(torch.load, str(path), map_location="cpu", weights_only=True)
        try:
            load_checkpoint(path)
            accepted += 1
        except ModelFileError as exc:
            assert str(exc).startswith(str(path)) and "weights_only" not in str(exc), (name, str(exc))
            rejected += 1
    _report("model files", accepted, rejected, read, len(cases))
    assert accepted and rejected


def _torchscript_cases(base: bytes, rng: random.Random, marker: Path) -> list[tuple[str, bytes]]:
    """A real nn~ export cut, garbled, and altered inside its zip: code and pickles swapped
    for hostile ones, methods renamed, records dropped."""
    import io
    import pickle
    import zipfile

    cases = [(f"cut-{n}", base[:n]) for n in sorted(rng.sample(range(len(base)), 12))]
    for k in range(4):
        b = bytearray(base)
        for _ in range(rng.randint(1, 16)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        cases.append((f"flip-{k}", bytes(b)))

    class Hostile:       # a pickle that would write the marker file if it were ever unpickled
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('ran')",))

    hostile = pickle.dumps(Hostile(), protocol=2)
    src = zipfile.ZipFile(io.BytesIO(base))
    names = src.namelist()

    def rezip(change) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
            for n in names:
                data = change(n, src.read(n))
                if data is not None:
                    z.writestr(n, data)
        return out.getvalue()

    code = [n for n in names if "/code/" in n and n.endswith(".py")]
    cases += [
        ("data.pkl hostile", rezip(lambda n, d: hostile if n.endswith("/data.pkl") else d)),
        ("constants.pkl hostile", rezip(lambda n, d: hostile if n.endswith("/constants.pkl") else d)),
        ("no data.pkl", rezip(lambda n, d: None if n.endswith("/data.pkl") else d)),
        ("no version", rezip(lambda n, d: None if n.endswith("/version") else d)),
        ("forward renamed", rezip(lambda n, d: d.replace(b"def forward(", b"def f0rward(") if n in code else d)),
        ("code runs os.system", rezip(lambda n, d: d.replace(b"def forward(self", b"def forward(self")
                                       + f"\nimport os\nos.system('touch {marker}')\n".encode() if n in code else d)),
        ("extra rehearsal.json garbled", rezip(lambda n, d: b"{nope" if n.endswith("extra/rehearsal.json") else d)),
    ]
    return cases


def test_fuzz_torchscript_files(tmp_path):
    """A TorchScript file (an nn~ export, or one altered) handed where rehearsal reads a model:
    refused in words naming the file, never unpickled, never run."""
    import warnings

    from rehearsal.training.checkpoints import ModelFileError, load_checkpoint, load_weights
    from rehearsal.training.export import export_nn_tilde
    from rehearsal.training.family import get_family

    config = {"latent": 2, "width": 16, "hidden": 16, "n_analysis_bands": 8, "n_noise_bands": 8,
              "noise_table": 4096}                                           # small: a quick export
    model = get_family("latent").build(config)
    (ts,) = export_nn_tilde(model, "latent", tmp_path / "good.ts", {})
    marker = tmp_path / "ran"
    cases = _torchscript_cases(ts.read_bytes(), random.Random(SEED), marker)
    cases += [(p.name, p.read_bytes()) for p in sorted((CORPUS / "torchscript").glob("*"))]
    accepted = rejected = past_zip = 0
    for i, (name, data) in enumerate(cases):
        path = tmp_path / f"case{i}.ts"
        path.write_bytes(data)
        import hashlib
        import json

        (tmp_path / f"case{i}.json").write_text(json.dumps({   # a weights export's sidecar naming it
            "format": "rehearsal-weights", "family": "latent", "config": config, "weights": path.name,
            "sha256": hashlib.sha256(data).hexdigest()}))
        for load in (load_checkpoint, lambda p: load_weights(p.with_suffix(".json"))):
            with warnings.catch_warnings():
                warnings.simplefilter("error")        # torch's own warnings would be a raw library message
                try:
                    load(path)
                    accepted += 1
                except ModelFileError as exc:
                    text = str(exc)
                    assert text.startswith(str(path)), (name, text)
                    assert "weights_only" not in text and "Traceback" not in text, (name, text)
                    assert "miniz" not in text and "PyTorch" not in text and "Pytorch" not in text, (name, text)
                    past_zip += "TorchScript" in text
                    rejected += 1
        assert not marker.exists(), f"{name}: its code or pickle ran"
    _report("TorchScript files", accepted, rejected, past_zip, 2 * len(cases))
    assert accepted == 0 and rejected == 2 * len(cases)
