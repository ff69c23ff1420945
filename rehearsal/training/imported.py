"""Any nn~ model as a generation: validate a TorchScript module, then import it.

`validate_nn_module(path)` loads a file with `torch.jit.load` (TorchScript only: a pickle is
refused before torch sees it) and checks it the way nn~ (acids-ircam/nn_tilde,
src/backend/backend.cpp) will use it:

- the methods: `get_methods()`, or, as nn~ falls back, every method with a `<name>_params`
  buffer; each buffer holds four positive integers [in_channels, in_ratio, out_channels,
  out_ratio];
- the shapes: every method is called on (batch, in_channels, n / in_ratio) for buffer sizes n
  that are multiples of the largest ratio up to 8192 (the model's smallest accepted one is
  its buffer: a module may refuse shorter ones, as our exports refuse less than 256), then
  at 8192 with batch 1, 4, 1 (mc.nn~ changes the batch); the output must be (batch,
  out_channels, n / out_ratio), float32 and finite;
- the native sample rate, read before anything calls `set_sample_rate` (nn~ calls it with
  the host's rate right after loading): `get_sample_rate()`, else the module's `sr`
  attribute (RAVE), else the `sample_rate` of a rehearsal export's provenance;
- the latent size (encode's output channels, which decode must take back);
- the family: `rave` when the methods and attributes are RAVE's export (encode, decode,
  forward; learn_target...), else `external`.

Every refusal is a `ModuleError` naming the file and what is wrong in words.

`import_model(db, workspace, path, ...)` validates, copies the file into the generation's
folder (models/g0012/model.ts), and records a complete generation: family, strategy
`import`, lineage (dataset version, parent), the module's facts and the caller's `lineage`
(config, steps...), one checkpoint (kind `final`) that play and
render load, an optional note; then renders the probe previews (render_previews).
`install_module` is its middle part: a RAVE run (rehearsal.training.rave) puts its own
export into its own generation with it, so a run and the model it made are one generation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import warnings
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .family import IMPORTED_FAMILIES

FAMILIES = tuple(IMPORTED_FAMILIES)       # rave | external

MAX_BUFFER = 8192
BATCHES = (1, 4, 1)
RAVE_ATTRIBUTES = {"learn_target", "reset_target", "learn_source", "reset_source"}
PROBE_SECONDS = 4.0
PLAY_HEADROOM = 2.0   # x real time a play buffer should reach (the host gives a call one buffer's time)


class ModuleError(ValueError):
    """A file that is not a usable nn~ module; the message names it and says why."""


@dataclass
class MethodInfo:
    name: str
    in_channels: int
    in_ratio: int
    out_channels: int
    out_ratio: int
    input_labels: list[str] = field(default_factory=list)
    output_labels: list[str] = field(default_factory=list)


@dataclass
class ModuleInfo:
    path: str
    sha256: str
    methods: dict[str, MethodInfo]
    attributes: list[str]
    sample_rate: int                 # the rate the model was made for (read before set_sample_rate)
    sample_rate_from: str            # get_sample_rate() | sr attribute | rehearsal.json | given
    latent_size: int | None          # encode's output channels
    family: str                      # rave | external
    play: str                        # how the play host runs it: encode-decode | forward
    largest_ratio: int
    buffer: int                      # the smallest buffer (model samples) it accepts
    buffers_checked: list[int]       # buffer sizes every method was called with
    refused_buffers: dict[str, str]  # shorter sizes it refused, and its words
    validation_s: float
    realtime_factor: float | None    # audio seconds per compute second, one thread, at `play_buffer`
    latency_samples: int             # at its own rate: the buffer it must fill before answering
    provenance: dict = field(default_factory=dict)   # extra/rehearsal.json when present
    play_buffer: int = 0             # the buffer the play host calls it with (choose_play_buffer)
    realtime_factors: dict = field(default_factory=dict)   # buffer size -> x real time, one thread

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "ModuleInfo":
        data = dict(data)
        data["methods"] = {k: MethodInfo(**v) for k, v in data["methods"].items()}
        return cls(**data)

    @property
    def audio_method(self) -> MethodInfo:
        """The method the host feeds audio: forward, or encode for encode-decode."""
        return self.methods["encode" if self.play == "encode-decode" else "forward"]

    @property
    def output_method(self) -> MethodInfo:
        return self.methods["decode" if self.play == "encode-decode" else "forward"]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_archive(path: Path) -> dict:
    """A TorchScript file is a zip with code/ and constants.pkl; torch.save writes a zip
    with data.pkl alone (a pickle: never loaded here). Returns extra/rehearsal.json if any."""
    if not path.exists():
        raise ModuleError(f"{path}: no such file")
    if path.is_dir():
        raise ModuleError(f"{path}: a folder, not a TorchScript file (.ts)")
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            extra = [n for n in names if n.endswith("/extra/rehearsal.json")]
            meta = {}
            if extra:
                try:
                    meta = json.loads(z.read(extra[0]).decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    meta = {}
    except zipfile.BadZipFile:
        with open(path, "rb") as f:
            head = f.read(2)
        what = "a pickle (torch.save of an old format)" if head[:1] == b"\x80" else "not a zip archive"
        raise ModuleError(f"{path}: not a TorchScript module ({what}); rehearsal loads nn~ models saved with "
                          "torch.jit.save (`rave export --streaming`, nn_tilde's export_to_ts) and never "
                          "unpickles a model file") from None
    from .checkpoints import is_torchscript

    if not is_torchscript(path):
        raise ModuleError(f"{path}: a torch.save checkpoint (pickled weights), not a TorchScript module; export "
                          "it for nn~ first (`rave export --streaming`, torch.jit.script(model).save(...)); "
                          "rehearsal never unpickles a model file")
    return meta if isinstance(meta, dict) else {}


def load_module(path: Path):
    """torch.jit.load on the CPU, its errors said in words."""
    import torch

    try:
        with warnings.catch_warnings():   # torch 2.13 deprecates TorchScript; nn~ loads nothing else
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:   # RuntimeError from the archive reader or the TorchScript compiler
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModuleError(f"{path}: torch.jit.load could not load it as a TorchScript module ({first[:300]})") from None
    module.eval()
    return module


def _methods_of(path: Path, module) -> list[str]:
    """nn~'s rule: get_methods(), else every method with a <name>_params buffer."""
    if hasattr(module, "get_methods"):
        try:
            names = [str(m) for m in module.get_methods()]
        except Exception as exc:
            raise ModuleError(f"{path}: get_methods() raised ({str(exc).strip().splitlines()[-1][:200]})") from None
    else:
        names = [n for n in module._c._method_names() if hasattr(module, f"{n}_params")]
    if not names:
        raise ModuleError(f"{path}: no nn~ methods (no get_methods(), and no method has a <name>_params buffer); "
                          "nn~ would have nothing to call")
    return names


def _method_info(path: Path, module, name: str) -> MethodInfo:
    import torch

    if not hasattr(module, name):
        raise ModuleError(f"{path}: get_methods() names {name!r} but the module has no such method")
    params = getattr(module, f"{name}_params", None)
    if params is None:
        raise ModuleError(f"{path}: method {name!r} has no {name}_params buffer "
                          "([in_channels, in_ratio, out_channels, out_ratio], what nn~ reads)")
    if not isinstance(params, torch.Tensor) or params.numel() != 4 or params.dtype.is_floating_point:
        raise ModuleError(f"{path}: {name}_params must be four integers [in_channels, in_ratio, out_channels, "
                          f"out_ratio], not {params!r}")
    values = [int(v) for v in params.tolist()]
    if min(values) < 1:
        raise ModuleError(f"{path}: {name}_params = {values}: channels and ratios must be at least 1")

    def labels(kind: str, n: int) -> list[str]:
        got = getattr(module, f"{name}_{kind}_labels", None)
        out = [str(x) for x in got] if isinstance(got, (list, tuple)) else []
        return out if len(out) == n else [f"{kind} {i + 1}" for i in range(n)]

    return MethodInfo(name, values[0], values[1], values[2], values[3],
                      labels("input", values[0]), labels("output", values[2]))


def _native_rate(path: Path, module, meta: dict, given: int | None) -> tuple[int, str]:
    """The rate the model was made for, read before set_sample_rate is ever called."""
    if given:
        return int(given), "given"
    if hasattr(module, "get_sample_rate"):
        try:
            sr = int(module.get_sample_rate())
        except Exception:
            sr = -1
        if sr > 0:
            return sr, "get_sample_rate()"
    sr = getattr(module, "sr", None)
    if isinstance(sr, int) and sr > 0:
        return sr, "sr attribute"
    if isinstance(meta.get("sample_rate"), int) and meta["sample_rate"] > 0:
        return int(meta["sample_rate"]), "rehearsal.json"
    raise ModuleError(f"{path}: the module does not say its sample rate (no get_sample_rate(), no sr attribute); "
                      "give it with --sample-rate HZ")


def _call(path: Path, module, m: MethodInfo, n: int, batch: int, noise: bool = False):
    """Call m as nn~ does with an n-sample buffer; the output, or a ModuleError."""
    import torch

    shape = (batch, m.in_channels, n // m.in_ratio)
    x = (torch.randn(shape, generator=torch.Generator().manual_seed(n)) * 0.1) if noise else torch.zeros(shape)
    try:
        with torch.inference_mode():
            y = getattr(module, m.name)(x)
    except Exception as exc:
        raise _Refused(_words(exc)) from None
    want = (batch, m.out_channels, n // m.out_ratio)
    if not isinstance(y, torch.Tensor):
        raise ModuleError(f"{path}: method {m.name} returned {type(y).__name__}, nn~ expects one tensor {want}")
    if tuple(y.shape) != want:
        raise ModuleError(f"{path}: method {m.name} with a {n}-sample buffer and batch {batch}: input "
                          f"{tuple(shape)} gave {tuple(y.shape)}; nn~ expects {want} (from {m.name}_params "
                          f"[{m.in_channels}, {m.in_ratio}, {m.out_channels}, {m.out_ratio}])")
    if y.dtype != torch.float32:
        raise ModuleError(f"{path}: method {m.name} returned {y.dtype}; nn~ expects float32")
    if not torch.isfinite(y).all():
        raise ModuleError(f"{path}: method {m.name} returned NaN or infinite values for a "
                          f"{'noise' if noise else 'silent'} {n}-sample buffer")
    return y


class _Refused(Exception):
    pass


def _words(exc: Exception) -> str:
    """The last line of a TorchScript error, without its `builtins.RuntimeError: ` prefix."""
    text = str(exc).strip().splitlines()
    line = (text[-1] if text else type(exc).__name__).strip()
    for prefix in ("builtins.", "torch.jit.Error: "):
        if line.startswith(prefix):
            line = line.split(": ", 1)[-1] if ": " in line else line
    return line[:300]


def _buffer_sizes(largest: int) -> list[int]:
    """Multiples of the largest ratio up to 8192: 1, 2, 3, 4 times it, then doubling."""
    sizes = {largest * k for k in (1, 2, 3, 4)}
    n = largest * 8
    while n <= MAX_BUFFER:
        sizes.add(n)
        n *= 2
    sizes.add(MAX_BUFFER // largest * largest)
    return sorted(s for s in sizes if 0 < s <= MAX_BUFFER)


def _family_of(methods: dict[str, MethodInfo], attributes: list[str]) -> str:
    if {"encode", "decode", "forward"} <= set(methods) and (
            RAVE_ATTRIBUTES & set(attributes)
            or any("latent dimension" in lab.lower() for lab in methods["encode"].output_labels)):
        return "rave"
    return "external"


def _play_mode(path: Path, methods: dict[str, MethodInfo]) -> str:
    enc, dec = methods.get("encode"), methods.get("decode")
    if enc and dec and enc.in_ratio == 1 and dec.out_ratio == 1 and enc.out_channels == dec.in_channels \
            and enc.out_ratio == dec.in_ratio:
        return "encode-decode"
    fwd = methods.get("forward")
    if fwd and fwd.in_ratio == 1 and fwd.out_ratio == 1:
        return "forward"
    raise ModuleError(f"{path}: nothing to play: it needs a `forward` taking and returning audio (ratios 1), or "
                      f"`encode` and `decode` that fit together; its methods are "
                      + ", ".join(f"{m.name} {[m.in_channels, m.in_ratio, m.out_channels, m.out_ratio]}"
                                  for m in methods.values()))


def validate_nn_module(path, *, sample_rate: int | None = None, family: str | None = None,
                       time_it: bool = True, quick: bool = False) -> ModuleInfo:
    """Check a TorchScript file against the nn~ contract (see the module's docstring).
    Raises ModuleError naming the file and what is wrong. `quick` (the play host, on a
    file validated at import): stop at the first buffer size every method accepts, no
    batch sweep."""
    path = Path(path)
    t0 = time.perf_counter()
    meta = _check_archive(path)
    module = load_module(path)
    methods = {name: _method_info(path, module, name) for name in _methods_of(path, module)}
    rate, rate_from = _native_rate(path, module, meta, sample_rate)
    if not 8000 <= rate <= 192000:
        raise ModuleError(f"{path}: sample rate {rate} Hz ({rate_from}); models run at 8000 to 192000 Hz")
    attributes: list[str] = []
    if hasattr(module, "get_attributes"):
        try:
            attributes = [str(a) for a in module.get_attributes()]
        except Exception:
            attributes = []
    largest = max(max(m.in_ratio, m.out_ratio) for m in methods.values())
    if largest > MAX_BUFFER:
        raise ModuleError(f"{path}: a ratio of {largest}: nn~ buffers go up to {MAX_BUFFER} samples")
    for m in methods.values():
        if largest % m.in_ratio or largest % m.out_ratio:
            raise ModuleError(f"{path}: method {m.name}'s ratios {m.in_ratio}/{m.out_ratio} do not divide the largest "
                              f"ratio {largest}: no buffer size fits every method")
    checked: list[int] = []
    refused: dict[str, str] = {}
    buffer = None
    for n in _buffer_sizes(largest):
        for m in methods.values():
            try:
                _call(path, module, m, n, 1)
            except _Refused as why:
                if buffer is not None:
                    raise ModuleError(f"{path}: method {m.name} accepted {buffer}-sample buffers but refused {n} "
                                      f"({why}); nn~ may use any multiple of {largest}") from None
                refused[str(n)] = f"{m.name}: {why}"
                break
        else:
            checked.append(n)
            if buffer is None:
                buffer = n
            if quick:
                break
    if buffer is None:
        sizes = list(refused.items())
        why = "; ".join(f"{n}: {w}" for n, w in sizes[:1] + sizes[-1:])
        raise ModuleError(f"{path}: no buffer size up to {MAX_BUFFER} works ({why}; tried "
                          f"{', '.join(refused)})")
    n_full = max(checked)
    for m in methods.values() if not quick else ():
        try:
            for batch in BATCHES:
                _call(path, module, m, n_full, batch)
            _call(path, module, m, n_full, 1, noise=m.in_ratio == 1)
        except _Refused as why:
            raise ModuleError(f"{path}: method {m.name} with a {n_full}-sample buffer at batch {batch} raised: "
                              f"{why} (mc.nn~ changes the batch; each method must take 1, 4, then 1 again)") from None
    enc = methods.get("encode")
    dec = methods.get("decode")
    latent = enc.out_channels if enc else None
    if enc and dec and enc.out_channels != dec.in_channels:
        raise ModuleError(f"{path}: encode gives {enc.out_channels} latent channels, decode takes {dec.in_channels}")
    play = _play_mode(path, methods)
    fam = family or _family_of(methods, attributes)
    if fam not in FAMILIES:
        raise ModuleError(f"family {fam!r}: an imported module is 'rave' or 'external'")
    validation_s = time.perf_counter() - t0
    sizes = sorted({buffer, *[n for n in checked if n in (2048, 4096) or n == buffer * 4]})
    factors = _realtime_factors(module, methods, play, [n for n in sizes if n >= buffer], rate) if time_it else {}
    play_buffer = choose_play_buffer(checked, factors) if factors else buffer
    latency = int(meta.get("latency_samples") or 0) if meta.get("format") == "nn-tilde" else 0
    return ModuleInfo(str(path), _sha256(path), methods, attributes, rate, rate_from, latent, fam, play, largest,
                      buffer, checked, refused, round(validation_s, 3), factors.get(str(play_buffer)),
                      max(latency, buffer), {k: v for k, v in meta.items() if k != "config"} if meta else {},
                      play_buffer, factors)


def _realtime_factors(module, methods, play: str, sizes: list[int], rate: int) -> dict[str, float]:
    """Audio seconds per compute second on one thread, streaming calls at batch 1, for each
    buffer size (bigger buffers cost less per sample: RAVE v2_small here 0.8x at 512,
    2.4x at 2048, 6x at 4096)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)           # as the play host runs it
    out = {}
    try:
        for n in sizes:
            x = torch.randn(1, methods["encode" if play == "encode-decode" else "forward"].in_channels, n) * 0.1
            calls = max(2, -(-rate // 4 // n))     # about a quarter of a second of audio
            with torch.inference_mode():
                for _ in range(3):   # the first calls profile and optimise the graph
                    play_call(module, play, x)
                t0 = time.perf_counter()
                for _ in range(calls):
                    play_call(module, play, x)
                dt = time.perf_counter() - t0
            out[str(n)] = round(calls * n / rate / max(dt, 1e-9), 2)
    finally:
        torch.set_num_threads(threads)
    return out


def choose_play_buffer(buffers: list[int], factors: dict[str, float], want: float = PLAY_HEADROOM) -> int:
    """The smallest buffer that runs `want` times faster than real time (latency grows with
    it), else the fastest one measured."""
    timed = sorted((int(n), f) for n, f in factors.items())
    for n, f in timed:
        if f >= want:
            return n
    return max(timed, key=lambda t: t[1])[0] if timed else min(buffers)


def play_call(module, play: str, x):
    """The call the play host makes: decode(encode(x)), or forward(x)."""
    return module.decode(module.encode(x)) if play == "encode-decode" else module(x)


# -- import as a generation ------------------------------------------------------------------

def import_model(db, workspace, path, *, dataset_ref: str | None = None, parent=None, note: str | None = None,
                 lineage: dict | None = None, family: str | None = None, sample_rate: int | None = None,
                 label: str | None = None, who: str | None = None, previews: bool = True,
                 lineage_file: bool = True) -> dict:
    """Validate `path` and make it a complete generation; returns the generation row.
    `lineage`: extra facts kept with it (config, steps...). The lineage file beside it
    (FILE.lineage.json, written where the model was made: `write_lineage_file`) gives its
    dataset, parent and facts when the caller does not; what it names and this workspace
    lacks is a note on the generation (`metrics["lineage_file"]` says what was found)."""
    from . import generations as gens
    from .spec import RunSpec

    path = Path(path)
    travelled = None
    if lineage_file and lineage_path(path).exists():    # refused before the (slower) validation
        travelled = read_lineage_file(path, _sha256(path) if path.is_file() else None)
    info = validate_nn_module(path, sample_rate=sample_rate, family=family)
    parent_row = gens.get_generation(db, parent) if parent is not None else None
    dataset = None
    if dataset_ref:
        from .dataset import resolve_dataset

        dataset = resolve_dataset(workspace, db, dataset_ref)
    lineage = dict(lineage or {})
    found = None
    if travelled is not None:      # made elsewhere: its dataset and parent, found here
        found = home_lineage(workspace, db, travelled, dataset=dataset, parent=parent_row)
        dataset, parent_row = found.pop("dataset_info"), found.pop("parent_row")
        there = travelled.get("dataset") or {}
        lineage = {**{k: v for k, v in travelled.get("facts", {}).items() if k != "parent"},
                   "made_on": travelled.get("made_on"), "generation_there": travelled.get("generation"),
                   "dataset_there": there.get("ref"), "dataset_sha256": there.get("sha256"),
                   "parent_there": (travelled.get("parent") or {}).get("name"), **lineage}
        label = label or f"{travelled.get('label') or path.stem} (from {travelled.get('made_on') or 'elsewhere'})"
    label = label or f"import {path.stem}"
    spec = RunSpec(family=info.family, strategy="import", label=label, seed=int(lineage.get("seed", 0)),
                   family_params={k: v for k, v in lineage.items() if k in ("config", "configs")},
                   init="parent" if parent_row else "scratch", parent_id=parent_row["id"] if parent_row else None,
                   max_steps=max(1, int(lineage.get("steps") or 1)), validation=False, keep="all")
    gen_id = gens.create_generation(
        db, spec, dataset_ref=(dataset.ref if dataset else dataset_ref) or "",
        dataset_version_id=dataset.version_id if dataset else None,
        dataset_folder=workspace.relative(dataset.folder) if dataset else "",
        dataset_hash=dataset.content_hash if dataset else "")
    try:
        metrics, ckpt = install_module(db, workspace, gen_id, path, info, lineage)
    except ModuleError as exc:   # a full disk: the generation says why it has no model
        gens.mark_finished(db, gen_id, "failed", error=str(exc))
        raise
    if found is not None:
        metrics["lineage_file"] = found
    gens.mark_finished(db, gen_id, "complete", metrics=metrics, checkpoint_id=ckpt)
    if note:
        gens.add_note(db, gen_id, text=note, who=who or "import")
    for missing in (found or {}).get("missing", []):
        gens.add_note(db, gen_id, text=missing, who="import")
    if previews:
        previews_of_module(workspace, db, gen_id, ckpt, info=info, dataset=dataset, parent=parent_row)
    return gens.get_generation(db, gen_id)


def install_module(db, workspace, gen_id: int, path, info: ModuleInfo, lineage: dict | None = None,
                   step: int | None = None) -> tuple[dict, int]:
    """Copy a validated module into generation `gen_id`'s folder (model.ts and its sidecar)
    and record it as the checkpoint play and render load (kind `final`). Returns (the
    metrics that say what it is, the checkpoint's id). Used by `import_model` and by a run
    that made its model with another tool (rehearsal.training.rave): one generation either way."""
    from . import generations as gens

    path = Path(path)
    lineage = dict(lineage or {})
    gen = gens.get_generation(db, gen_id)
    folder = workspace.resolve(gen["folder"])
    dest = folder / "model.ts"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name("model.ts.tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, dest)
        write_sidecar(dest, info)
    except OSError as exc:
        raise ModuleError(f"{path}: could not copy it into {folder} ({exc.strerror or exc})") from None
    metrics = {"imported": {"from": str(path.resolve()), **info.to_json(), "path": workspace.relative(dest)},
               "lineage": lineage, "steps": lineage.get("steps"), "sample_rate": info.sample_rate,
               "latency_samples": info.latency_samples, "latent_size": info.latent_size}
    steps = int(step if step is not None else lineage.get("steps") or 0)
    ckpt = gens.record_checkpoint(db, gen_id, kind="final", step=steps, elapsed_s=0.0,
                                  path=workspace.relative(dest), train_loss=None, val_loss=None, previews=None)
    return metrics, ckpt


def previews_of_module(workspace, db, gen_id: int, ckpt: int, *, info: ModuleInfo, dataset=None,
                       parent: dict | None = None, inputs: Path | None = None) -> list[Path]:
    """render_previews onto checkpoint `ckpt` (its previews column); a failure is a note on
    the generation, which stands without previews."""
    from . import generations as gens

    try:
        written = render_previews(workspace, db, gen_id, info=info, dataset=dataset, parent=parent, ckpt=ckpt,
                                  inputs=inputs)
    except Exception as exc:
        gens.add_note(db, gen_id, text=f"previews not rendered: {type(exc).__name__}: {exc}"[:500], who="import")
        return []
    if written:
        folder = workspace.resolve(gens.get_generation(db, gen_id)["folder"])
        db.execute("UPDATE generation_checkpoints SET previews = ? WHERE id = ?",
                   [workspace.relative(folder / "previews" / "final"), ckpt])
    return written


# -- the lineage file: what travels home with a model made elsewhere ---------------------------

LINEAGE_FORMAT = "rehearsal-lineage"
LINEAGE_VERSION = 1


def lineage_path(model_file) -> Path:
    """FILE.lineage.json beside FILE.ts (g7_streaming.ts -> g7_streaming.lineage.json)."""
    model_file = Path(model_file)
    return model_file.with_name(model_file.stem + ".lineage.json")


def write_lineage_file(workspace, db, ref, model_file) -> Path:
    """Write the lineage file of generation `ref` beside `model_file` (the .ts it made): the
    model's sha256, the generation, its dataset (ref, version id, content sha256), its parent
    (name, label, and the sha256 of the file it plays) and the facts of its lineage. Format:
    docs/training.md, "A run made on another machine"."""
    from ..store.clock import utc_now
    from . import generations as gens

    g = gens.get_generation(db, ref)
    parent = None
    if g["parent_id"]:
        row = gens.get_generation(db, g["parent_id"])
        parent = {"name": row["name"], "label": row["label"], "family": row["family"],
                  "sha256": _played_sha256(workspace, db, row)}
    facts = dict((g.get("metrics") or {}).get("lineage") or {})
    doc = {"format": LINEAGE_FORMAT, "version": LINEAGE_VERSION, "model": Path(model_file).name,
           "model_sha256": _sha256(Path(model_file)), "generation": g["name"], "label": g["label"],
           "family": g["family"], "strategy": g["strategy"], "made_on": facts.get("host"), "made_at": utc_now(),
           "dataset": ({"ref": g["dataset_ref"], "version_id": g["dataset_version_id"], "sha256": g["dataset_hash"]}
                       if g["dataset_ref"] or g["dataset_hash"] else None),
           "parent": parent, "facts": facts}
    dest = lineage_path(model_file)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    os.replace(tmp, dest)
    return dest


def _played_sha256(workspace, db, gen: dict) -> str | None:
    """The sha256 of the file a generation plays (an imported module's is recorded)."""
    from . import generations as gens

    known = ((gen.get("metrics") or {}).get("imported") or {}).get("sha256")
    if known:
        return known
    try:
        path = workspace.resolve(gens.checkpoint_for(db, gen)["path"])
    except LookupError:
        return None
    return _sha256(path) if path.is_file() else None


def read_lineage_file(model_file, sha256: str | None = None) -> dict | None:
    """The lineage file beside `model_file`, checked; None when there is none. A file that
    is not one, or that describes another model (its sha256), is a ModuleError in words."""
    path = lineage_path(model_file)
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModuleError(f"{path}, line {exc.lineno}: not a lineage file ({exc.msg}); fix it, or move it away to "
                          "import the model without its lineage") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModuleError(f"{path}: cannot be read ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != LINEAGE_FORMAT:
        raise ModuleError(f"{path}: not a lineage file (no \"format\": \"{LINEAGE_FORMAT}\")")
    if int(doc.get("version") or 0) > LINEAGE_VERSION:
        raise ModuleError(f"{path}: lineage format version {doc.get('version')}, newer than this rehearsal's "
                          f"({LINEAGE_VERSION}): update rehearsal")
    for key, kind in (("dataset", dict), ("parent", dict), ("facts", dict)):
        if doc.get(key) is not None and not isinstance(doc[key], kind):
            raise ModuleError(f"{path}: {key!r} must be an object, not {type(doc[key]).__name__}")
    want = doc.get("model_sha256")
    if sha256 and want and want != sha256:
        raise ModuleError(f"{path} describes another model (sha256 {want[:12]}..., {Path(model_file).name} is "
                          f"{sha256[:12]}...): it was written for another export; move it away to import "
                          "the model without it")
    doc["path"] = str(path)
    return doc


def home_lineage(workspace, db, doc: dict, *, dataset=None, parent: dict | None = None) -> dict:
    """Find here what a lineage file names: the dataset version (by its ref, checked by
    content sha256, else any generation trained on that content) and the parent (by name
    when the file it plays has the same sha256, else any generation that plays that file).
    What the caller gave wins. Returns what was found, for the generation's metrics, with
    `dataset_info` and `parent_row` for the import, and `missing`: notes in words."""
    from . import generations as gens
    from .dataset import DatasetError, open_folder, resolve_dataset

    where = doc.get("made_on") or "the machine it was made on"
    out: dict = {"path": doc.get("path"), "generation_there": doc.get("generation"), "missing": []}
    want = doc.get("dataset") or {}
    if dataset is None and want:
        sha = want.get("sha256")
        if want.get("ref"):
            try:
                candidate = resolve_dataset(workspace, db, want["ref"])
            except (DatasetError, LookupError):
                candidate = None
            if candidate is not None and (not sha or candidate.content_hash == sha):
                dataset = candidate
        if dataset is None and sha:
            for row in db.query("SELECT dataset_ref, dataset_version_id, dataset_folder FROM generations WHERE "
                                "dataset_hash = ? AND dataset_folder != '' ORDER BY id DESC", [sha]):
                try:
                    candidate = open_folder(workspace.resolve(row["dataset_folder"]), row["dataset_ref"],
                                            row["dataset_version_id"])
                except (DatasetError, OSError):
                    continue
                if candidate.content_hash == sha:
                    dataset = candidate
                    break
        if dataset is None:
            out["missing"].append(f"trained on {want.get('ref') or 'a dataset'} (sha256 {str(sha)[:12]}) on {where}: "
                                  "no dataset with that content here")
    out["dataset"] = dataset.ref if dataset is not None else None
    up = doc.get("parent") or {}
    if parent is None and up:
        sha = up.get("sha256")
        candidates = []
        try:
            candidates.append(gens.get_generation(db, up.get("name", "")))
        except LookupError:
            pass
        candidates += [g for g in gens.list_generations(db, "complete")
                       if ((g.get("metrics") or {}).get("imported") or {}).get("sha256") == sha]
        for g in candidates:
            if sha and _played_sha256(workspace, db, g) == sha:
                parent = g
                break
        if parent is None:
            out["missing"].append(f"its parent was {up.get('name')} ({up.get('label')}) on {where}: no generation "
                                  "here plays that model (import it first, or give --parent)")
    out["parent"] = parent["name"] if parent is not None else None
    out["dataset_info"], out["parent_row"] = dataset, parent
    return out


def write_sidecar(dest: Path, info: ModuleInfo) -> Path:
    """model.json beside model.ts: what validation found, so the play host need not redo it."""
    side = Path(dest).with_suffix(".json")
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_text(json.dumps({**info.to_json(), "path": Path(dest).name}, indent=1))
    os.replace(tmp, side)
    return side


def info_for_file(path) -> ModuleInfo:
    """The module's facts: its sidecar when it still describes this very file (sha256), else
    a quick validation (the first buffer size every method takes)."""
    path = Path(path)
    side = path.with_suffix(".json")
    if side.exists():
        try:
            info = ModuleInfo.from_json(json.loads(side.read_text()))
        except (ValueError, TypeError, KeyError):
            info = None
        if info is not None and info.sha256 == _sha256(path):
            return info
    return validate_nn_module(path, time_it=False, quick=True)


def module_info(gen: dict) -> ModuleInfo | None:
    """The validated facts of an imported generation (None for one trained here)."""
    data = (gen.get("metrics") or {}).get("imported")
    if not data:
        return None
    data = {k: v for k, v in data.items() if k != "from"}
    return ModuleInfo.from_json({**data, "path": data.get("path", "")})


def is_module_file(path) -> bool:
    return str(path).endswith(".ts")


# -- previews ----------------------------------------------------------------------------------

def probe_clips(workspace, dataset=None, parent: dict | None = None):
    """[(name, mono 48 kHz audio)]: the dataset's probe clips (the ones its trained generations
    render), else the parent's, else the first seconds of the demo take."""
    import numpy as np

    from .dataset import SAMPLE_RATE, load_audio

    if dataset is not None and dataset.clips:
        from .data import prepare
        from .descriptors import DescriptorCache

        data = prepare(dataset, list(dataset.clips), hop=256, conditioning=(), val_fraction=0.15, probe_count=3,
                       probe_seconds=PROBE_SECONDS, cache=DescriptorCache(workspace.folder("models") / ".cache"))
        return [(c.name, c.audio) for c in data.probes]
    if parent is not None:
        folder = workspace.resolve(parent["folder"]) / "previews" / "input"
        files = sorted(folder.glob("*.wav")) if folder.is_dir() else []
        if files:
            return [(f.stem.split("-", 1)[-1], load_audio(f)) for f in files]
    from ..audio.demo import demo_take_path

    audio = load_audio(demo_take_path())
    n = int(PROBE_SECONDS * SAMPLE_RATE)
    return [("demo-take", np.ascontiguousarray(audio[:n]))]


def render_previews(workspace, db, ref, *, info: ModuleInfo | None = None, dataset=None,
                    parent: dict | None = None, ckpt: int | None = None, inputs: Path | None = None) -> list[Path]:
    """Render the probe clips through the imported module, as the play host streams it
    (block by block, resampled to and from its rate): previews/input and previews/final.
    `inputs`: a folder of probe clips already there (a RAVE run's previews/input), rendered
    under their own names and left as they are."""
    import soundfile as sf

    from ..naming import safe_filename
    from . import generations as gens
    from .dataset import SAMPLE_RATE, load_audio
    from .module_stream import render_offline

    gen = gens.get_generation(db, ref)
    info = info or module_info(gen)
    rows = {r["id"]: r for r in gens.list_checkpoints(db, gen["id"])}
    model_path = rows[ckpt]["path"] if ckpt in rows else gens.checkpoint_for(db, gen)["path"]
    folder = workspace.resolve(gen["folder"]) / "previews"
    if inputs is not None:
        clips = [(f.stem, load_audio(f)) for f in sorted(Path(inputs).glob("*.wav"))]
    else:
        clips = [(f"{i:02d}-{safe_filename(name)}", audio)
                 for i, (name, audio) in enumerate(probe_clips(workspace, dataset, parent), 1)]
        (folder / "input").mkdir(parents=True, exist_ok=True)
    (folder / "final").mkdir(parents=True, exist_ok=True)
    paths = []
    for fname, audio in clips:
        if inputs is None:
            sf.write(str(folder / "input" / f"{fname}.wav"), audio, SAMPLE_RATE, subtype="FLOAT")
        out = render_offline(workspace.resolve(model_path), info, audio, SAMPLE_RATE)
        sf.write(str(folder / "final" / f"{fname}.wav"), out, SAMPLE_RATE, subtype="FLOAT")
        paths.append(folder / "final" / f"{fname}.wav")
    return paths


class ModuleEncoder:
    """An imported module's `encode`, shaped as the map and the terrain call ours
    (`clipmap.encode_frames`): 48 kHz mono audio (1, n) -> latent frames (1, frames, latent).
    The audio is resampled to the module's rate and cut to a whole number of its encode
    ratio (one frame: 2048 samples at 44.1 kHz for a RAVE v2)."""

    hop = 1           # encode_frames passes the clip whole; the ratio is cut here
    context = 0

    def __init__(self, path: Path, info: ModuleInfo):
        if "encode" not in info.methods or info.methods["encode"].in_ratio != 1:
            raise LookupError(f"{path}: the module has no encode method taking audio: map it from descriptors")
        self.module = load_module(path)
        self.info = info
        self.method = info.methods["encode"]

    def eval(self) -> "ModuleEncoder":
        return self

    def encode(self, x):
        import torch

        from .dataset import resample

        audio = resample(x[0].numpy(), 48000, self.info.sample_rate)
        ratio = self.info.largest_ratio          # every buffer it takes is a multiple of it
        n = max(1, len(audio) // ratio) * ratio
        buf = torch.zeros(1, self.method.in_channels, n)
        buf[0, :, :min(n, len(audio))] = torch.as_tensor(audio[:n])
        with torch.no_grad():
            z = self.module.encode(buf)                  # (1, latent, frames)
        return z.transpose(1, 2)


def module_encoder(ws, gen: dict, path) -> ModuleEncoder:
    """The encoder of an imported generation (its model.ts and validated facts)."""
    info = module_info(gen) or info_for_file(ws.resolve(path))
    return ModuleEncoder(ws.resolve(path), info)
