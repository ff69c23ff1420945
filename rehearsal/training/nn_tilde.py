"""The nn~ contract (acids-ircam/nn_tilde), written out rather than depended on.

nn~ (Max/MSP, Pd) loads a TorchScript module and, for each method named by `get_methods()`,
reads the buffer `<method>_params` = [in_channels, in_ratio, out_channels, out_ratio] and the
lists `<method>_input_labels` / `<method>_output_labels`. It calls the method with a float
tensor (batch, in_channels, n / in_ratio) and expects (batch, out_channels, n / out_ratio),
n being its buffer size (a multiple of the largest ratio). Between calls the module keeps
its own streaming state; mc.nn~ changes the batch size. Attributes (`get_attributes()`) are
read and set through `get_<name>` / `set_<name>`. Right after loading, nn~ calls
`set_sample_rate(host_rate)` when the module has it (acids-ircam/nn_tilde,
src/backend/backend.cpp `Backend::load` -> `set_sample_rate`), and nothing else tells the
module the host's rate: so every export has it, and the families synthesise at that rate
(`host_rate`; the pitch family's analysis and oscillators are exact at any rate; the
latent and autoregressive families re-bin their analysis bands and resample their noise
tables to it in `adapt_rate`, so their bands stay at the same frequencies in Hz). A rate
outside MIN_RATE..MAX_RATE is refused (an error, so nn~ reports the load as failed). The
`nn-tilde` package on PyPI pins an old torch, hence this small base class.
"""


from typing import List, Sequence

import torch
from torch import nn


MIN_RATE, MAX_RATE = 22050, 192000


class NNTildeModule(nn.Module):
    _methods: List[str]
    _attributes: List[str]
    host_rate: int
    model_rate: int

    def __init__(self, sample_rate: int = 48000) -> None:
        super().__init__()
        self._methods = []
        self._attributes = []
        self.model_rate = int(sample_rate)   # the rate it was trained at
        self.host_rate = int(sample_rate)    # the rate it runs at (nn~ sets it)

    @torch.jit.export
    def set_sample_rate(self, sample_rate: int) -> int:
        """nn~ calls this after loading, with the host's rate. 0 when accepted."""
        if sample_rate < 22050 or sample_rate > 192000:   # MIN_RATE, MAX_RATE (TorchScript wants literals)
            raise RuntimeError("sample rate " + str(sample_rate) + " Hz: this model runs at 22050 to 192000 Hz")
        self.host_rate = sample_rate
        self.adapt_rate(sample_rate)
        return 0

    def adapt_rate(self, sample_rate: int) -> None:
        """A family whose tables depend on the rate rebuilds them here (the latent and
        autoregressive families' band tables); the pitch family needs nothing."""
        pass

    @torch.jit.export
    def get_sample_rate(self) -> int:
        return self.host_rate

    def register_method(self, name: str, in_channels: int, in_ratio: int, out_channels: int, out_ratio: int,
                        input_labels: Sequence[str], output_labels: Sequence[str]) -> None:
        if len(input_labels) != in_channels or len(output_labels) != out_channels:
            raise ValueError(f"method {name}: one label per channel is needed")
        self.register_buffer(f"{name}_params", torch.tensor([in_channels, in_ratio, out_channels, out_ratio]))
        setattr(self, f"{name}_input_labels", list(input_labels))
        setattr(self, f"{name}_output_labels", list(output_labels))
        self._methods.append(name)

    def register_attribute(self, name: str, default) -> None:
        """An attribute nn~ reads and sets (`set <name> <value>` from a Max/Pd message): the
        module defines `get_<name>()` and `set_<name>(value) -> int` (0 when accepted), both
        exported; `<name>_params` holds nn_tilde's type code of the value (bool 0, int 1,
        float 2, str 3)."""
        codes = {bool: 0, int: 1, float: 2, str: 3}
        if type(default) not in codes:
            raise ValueError(f"attribute {name}: a bool, int, float or str, not {type(default).__name__}")
        if not (hasattr(self, f"get_{name}") and hasattr(self, f"set_{name}")):
            raise ValueError(f"attribute {name}: define get_{name}() and set_{name}(value)")
        self.register_buffer(f"{name}_params", torch.tensor([codes[type(default)]]))
        self._attributes.append(name)

    def check_buffer(self, n: int) -> None:
        """Refuse a buffer that is not whole blocks (the subclass sets `self.hop`)."""
        if n % self.hop != 0:
            raise RuntimeError("buffer size must be a multiple of " + str(self.hop) + " samples")

    @torch.jit.export
    def get_methods(self) -> List[str]:
        return self._methods

    @torch.jit.export
    def get_attributes(self) -> List[str]:
        return self._attributes

    def method_params(self, name: str) -> List[int]:
        return [int(v) for v in getattr(self, f"{name}_params").tolist()]


def check_method(module, name: str, buffer_size: int = 8192, batch: int = 1) -> None:
    """Call a method the way nn~ does and check the shape and type of what comes back
    (what nn_tilde's register_method tests before export)."""
    in_ch, in_ratio, out_ch, out_ratio = [int(v) for v in getattr(module, f"{name}_params").tolist()]
    x = torch.zeros(batch, in_ch, buffer_size // in_ratio)
    with torch.inference_mode():
        y = getattr(module, name)(x)
    expected = (batch, out_ch, buffer_size // out_ratio)
    if tuple(y.shape) != expected:
        raise ValueError(f"method {name}: output shape {tuple(y.shape)}, nn~ expects {expected}")
    if y.dtype != torch.float32:
        raise ValueError(f"method {name}: output must be float32, got {y.dtype}")


def check_attribute(module, name: str) -> None:
    """Read an attribute, set it back to its value as nn~ would, and check it was accepted."""
    value = getattr(module, f"get_{name}")()
    if getattr(module, f"set_{name}")(value) != 0:
        raise ValueError(f"attribute {name}: set_{name}({value!r}) refused the module's own value")
    if getattr(module, f"get_{name}")() != value:
        raise ValueError(f"attribute {name}: get_{name}() does not return what set_{name} stored")
