"""The small networks the families share: an MLP and the recurrent decoder.

Sizes are chosen for a laptop: a few hundred thousand parameters, one GRU step per block
of 256 samples (187.5 steps per second of audio).
"""


from typing import Tuple

import torch
from torch import Tensor, nn


class MLP(nn.Module):
    """Linear -> LayerNorm -> LeakyReLU, `layers` times (the DDSP decoder's building block)."""

    def __init__(self, n_in: int, width: int, layers: int = 2):
        super().__init__()
        mods = []
        for i in range(layers):
            mods += [nn.Linear(n_in if i == 0 else width, width), nn.LayerNorm(width), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*mods)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class RecurrentDecoder(nn.Module):
    """Per-frame conditioning -> MLP -> GRU -> MLP -> synthesiser controls.

    The GRU state is passed in and returned so a streamed render can carry it between calls.
    """

    def __init__(self, n_in: int, n_out: int, width: int = 128, hidden: int = 192):
        super().__init__()
        self.hidden = hidden
        self.pre = MLP(n_in, width)
        self.gru = nn.GRU(width, hidden, batch_first=True)
        self.post = MLP(hidden + width, hidden)
        self.out = nn.Linear(hidden, n_out)

    def initial_state(self, batch: int, device: torch.device) -> Tensor:
        return torch.zeros(1, batch, self.hidden, device=device)

    def forward(self, x: Tensor, state: Tensor) -> Tuple[Tensor, Tensor]:
        h = self.pre(x)
        y, state = self.gru(h, state)
        return self.out(self.post(torch.cat([y, h], -1))), state
