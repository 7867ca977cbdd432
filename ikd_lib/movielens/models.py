"""Rating models with taps at a lower and a higher layer (student g and teacher h).

    s_l = low(user, item)       Dense-ReLU on the concatenated embeddings (inputs [R, B, 2] ids)
    s_h = up(s_l)               n_upper Dense-ReLU layers, same width as s_l
    ŷ   = head(s_h) + offset    offset = mean training rating of the model's own task

Like timm's `forward_features` / `forward_head`, the pieces are public methods, so every
distillation method reads the taps it needs without model surgery; `forward` returns the
prediction and the dict of named states. Low and high share one width so the student's
encoder E_g can read both s_l and its decoded answer ŝ (METHOD.md, "choice").
"""
from __future__ import annotations

import torch
from torch import nn

from ..core.stacked import StackedEmbedding, StackedLinear
from .profiles import RatingModelConfig


class RatingModel(nn.Module):
    def __init__(self, cfg: RatingModelConfig, n_users: int, n_items: int,
                 seeds: tuple[int, ...], rating_offset: float, name: str):
        super().__init__()
        self.cfg, self.seeds, self.name = cfg, tuple(seeds), name
        self.user_emb = StackedEmbedding(seeds, n_users, cfg.emb_dim, f"{name}.user_emb")
        self.item_emb = StackedEmbedding(seeds, n_items, cfg.emb_dim, f"{name}.item_emb")
        self.low_layer = StackedLinear(seeds, 2 * cfg.emb_dim, cfg.width, f"{name}.low")
        self.up_layers = nn.ModuleList(
            StackedLinear(seeds, cfg.width, cfg.width, f"{name}.up{i}") for i in range(cfg.n_upper))
        self.head_layer = StackedLinear(seeds, cfg.width, 1, f"{name}.head")
        self.register_buffer("rating_offset", torch.tensor(float(rating_offset)))

    @property
    def width(self) -> int:
        return self.cfg.width

    def forward_low(self, inputs: torch.Tensor) -> torch.Tensor:
        """[R, B, 2] (user, item) ids -> s_l [R, B, width]."""
        pair = torch.cat([self.user_emb(inputs[..., 0]), self.item_emb(inputs[..., 1])], dim=-1)
        return torch.relu(self.low_layer(pair))

    def forward_up(self, state_low: torch.Tensor) -> torch.Tensor:
        """s_l -> s_h. For the teacher this is h_up, the part that 'interprets' a message."""
        state = state_low
        for layer in self.up_layers:
            state = torch.relu(layer(state))
        return state

    def forward_head(self, state_high: torch.Tensor) -> torch.Tensor:
        """s_h [R, B, width] -> predicted rating [R, B]."""
        return self.head_layer(state_high).squeeze(-1) + self.rating_offset

    def forward(self, inputs):
        state_low = self.forward_low(inputs)
        state_high = self.forward_up(state_low)
        return self.forward_head(state_high), {"low": state_low, "high": state_high}


def count_parameters(model: nn.Module, per_replica: bool = True) -> int:
    """Trainable numbers in one replica (or the whole stack)."""
    total = sum(p.numel() for p in model.parameters())
    n_rep = len(getattr(model, "seeds", (0,)))
    return total // n_rep if per_replica else total


def freeze(model: nn.Module) -> nn.Module:
    """The teacher: eval mode, no gradients to its weights (gradients still pass through it)."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class FrozenTeacher(nn.Module):
    """The teacher's upper layers h_up, one teacher replica per student replica.

    Student replica r talks to the teacher trained with the same seed (`replica_index[r]`).
    The weights are copied out as buffers: they get no gradient and no optimiser sees them,
    yet gradients flow *through* them into D_h and E_g.
    """

    def __init__(self, teacher: RatingModel, replica_index: torch.Tensor):
        super().__init__()
        self.width = teacher.width
        self.n_layers = len(teacher.up_layers)
        for i, layer in enumerate(teacher.up_layers):
            self.register_buffer(f"w{i}", layer.weight.detach()[replica_index].clone())
            self.register_buffer(f"b{i}", layer.bias.detach()[replica_index].clone())
        self.eval()

    def up(self, state: torch.Tensor) -> torch.Tensor:
        for i in range(self.n_layers):
            state = torch.relu(torch.baddbmm(getattr(self, f"b{i}"), state, getattr(self, f"w{i}")))
        return state
