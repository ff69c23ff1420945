"""What a model family plugin provides (no torch here: plugins load without it).

A family is a small object registered through `register_model_families`:

    class MyFamily(Family):
        name = "my-family"
        summary = "one line shown by `rehearsal train --help`"
        model_path = "my_package.my_model:MyModel"   # imported only when a model is built

The model class (a torch.nn.Module) takes a config dict and provides:

    config: dict            the full configuration, saved with every checkpoint
    sample_rate, hop        48000 and the block size (<= 256: the algorithmic latency)
    context                 samples of history each block's analysis needs
    conditioning            per-block inputs from the data pipeline: (), ("f0", "confidence") or
                            ("symbol",) (a family whose `conditions` hold "symbols")
    forward(audio_ctx, *conditioning, counter=0) -> audio     (B, context + n*hop) -> (B, n*hop)
    fit_normalisation(audio_ctx)                              dataset statistics, before training
    stream_module() -> NNTildeModule                          the nn~ export (TorchScript-able)
"""

from __future__ import annotations

import importlib

MAX_PARAMETERS = 1_000_000
MAX_BLOCK = 256   # samples: the algorithmic latency budget


SIZE_FACTOR = 8


class Family:
    name: str = ""
    summary: str = ""
    model_path: str = ""          # "package.module:ClassName"
    default_config: dict = {}     # torch-free defaults; else read from the model module
    trains_by_analysis = False    # True: no gradient steps; the worker calls the family's analyse()
    free_with_parent: tuple = ()  # family settings a generation made from a parent may change
    # What can steer its models: "symbols" (the notation; `train --condition symbols`). The one
    # place a family says whether it supports conditioning: training, the TUI's training form,
    # `train --explain` and play (symbols_refusal) all read it; imported families say ("none",).
    conditions: tuple = ("none",)
    imported = False              # its models are nn~ modules made elsewhere (IMPORTED_FAMILIES)

    def plan_params(self, params: dict, dataset, symbols) -> dict:
        """The family settings of a run planned from scratch on `dataset` (clips carrying one
        of `symbols` when given), before the run starts: a family fills in what depends on
        the data (the latent family, steered by symbols, the symbols it learns)."""
        return params

    def model_class(self):
        module_name, _, cls = self.model_path.partition(":")
        return getattr(importlib.import_module(module_name), cls)

    def defaults(self) -> dict:
        if self.default_config:
            return dict(self.default_config)
        module = importlib.import_module(self.model_path.partition(":")[0])
        return dict(getattr(module, "DEFAULTS", {}))

    def build(self, config: dict | None = None):
        from .dsp import count_parameters

        config = {**self.defaults(), **(config or {})}
        if int(config.get("sample_rate", 48000)) != 48000:
            raise ValueError(f"family {self.name}: models render at 48 kHz (sample_rate={config['sample_rate']})")
        if not 16 <= int(config.get("hop", 256)) <= MAX_BLOCK:
            raise ValueError(f"family {self.name}: hop must be 16 to {MAX_BLOCK} samples (the latency)")
        self.check_sizes(config)
        model = self.model_class()(config)
        n = count_parameters(model)
        if n > MAX_PARAMETERS:
            raise ValueError(f"family {self.name}: {n} parameters, more than the {MAX_PARAMETERS} a frugal model may have")
        return model

    def check_sizes(self, config: dict) -> None:
        """Sizes first, before anything is allocated: a size setting may be at most
        SIZE_FACTOR times its default (hidden=8000 once built 325M parameters, 1.3 GB, first)."""
        for key, default in self.defaults().items():
            value = config.get(key)
            if isinstance(default, bool) or not isinstance(default, int) or default <= 0 or key == "sample_rate":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SIZE_FACTOR * default:
                raise ValueError(f"family {self.name}: {key}={value!r}; sizes are whole numbers from 0 to"
                                 f" {SIZE_FACTOR * default} ({SIZE_FACTOR} times the default {default})")


class ImportedFamily(Family):
    """A family of models made elsewhere and imported as nn~ modules (rehearsal.training.imported):
    rehearsal plays them as nn~ does, trains none of them itself, and cannot steer them by symbols."""

    imported = True

    def __init__(self, name: str, summary: str):
        self.name, self.summary = name, summary


IMPORTED_FAMILIES = {f.name: f for f in (
    ImportedFamily("rave", "RAVE exports (acids-ircam; imported, or made by the rave strategy)"),
    ImportedFamily("external", "any other nn~ module, imported"))}


def model_families() -> dict[str, Family]:
    from ..plugins import registry

    return registry("model_families")


def get_family(name: str) -> Family:
    found = model_families()
    if name not in found:
        raise LookupError(f"no model family {name!r}; installed: {', '.join(sorted(found)) or 'none'}")
    return found[name]


def family_named(name: str) -> Family:
    """The family of a generation: a registered one or one of the imported families."""
    return IMPORTED_FAMILIES.get(name) or get_family(name)


def steering_symbols(gen: dict) -> list[str]:
    """The symbols a generation is steered by ([] if none): those its run learned, planned
    with `--condition symbols` (rehearsal.training.families.latent)."""
    import json

    try:
        params = json.loads(gen.get("spec_json") or "{}").get("family_params") or {}
    except (ValueError, AttributeError):
        return []
    return list(params.get("symbols") or []) if params.get("condition") == "symbols" else []


def symbols_refusal(gen: dict, symbol: str | None = None) -> str | None:
    """Why the generation `gen` (a generations row) does not take symbols, or `symbol`, in plain
    words; None when it does. Its family says whether it can (`Family.conditions`); a family
    that can still made this generation without them unless it was trained `--condition symbols`."""
    name, family = gen.get("name") or f"g{gen.get('id')}", gen.get("family") or "?"
    try:
        fam = family_named(family)
    except LookupError:
        fam = None
    if fam is None or "symbols" not in fam.conditions:
        what = f"an imported nn~ module, family {family}" if fam is not None and fam.imported else f"family {family}"
        return (f"{name} ({what}) does not take symbols: this generation cannot be steered by them, "
                "so the symbol changes nothing it plays")
    learned = steering_symbols(gen)
    if not learned:
        return (f"{name} does not take symbols: it was trained without them (a {family} model steered by "
                "symbols is trained with --condition symbols), so the symbol changes nothing it plays")
    if symbol is not None and symbol not in learned:
        return f"{name} never learned {symbol!r} (it knows {', '.join(learned)}): it keeps the symbol it had"
    return None
