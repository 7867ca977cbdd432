"""timm Vision Transformers seen through the taps (no forks, no model surgery).

    embed(x)   = norm_pre(patch_drop(_pos_embed(patch_embed(x))))    timm's own pieces
    s_l        = blocks[:low](embed(x))             the output of block `low`     [1, B, N, D]
    s_h        = blocks[low:](s_l)                  the output of the last block  [1, B, N, D]
    ŷ          = forward_head(norm(s_h))            timm's pooling (class token) and head

This is exactly timm's `forward_features` + `forward_head`, cut after block `low`. States
keep their token axis and get a leading replica axis of 1 (the core's convention: one
model per stack on this track), so E*, D* act per token. The teacher's upper layers
`h_up` are its blocks after `low`; `TeacherUp` runs them on decoded messages with
gradients flowing through and its weights frozen.
"""

from __future__ import annotations

import timm
import torch
from torch import nn

from ..core.methods import freeze
from ..core.stacked import replica_generator
from .products import route_products
from .profiles import ViTConfig

MEAN = STD = 0.5  # the normalisation of timm's augreg ViTs; used for our own teacher too


def build_vit(
    cfg: ViTConfig, depth: int, num_classes: int, seed: int, pretrained: bool = False, checkpoint: str | None = None
) -> nn.Module:
    """A timm VisionTransformer; timm draws its initialisation from the global generator, so
    it runs inside a forked generator seeded by `seed` (same seed, same weights). With
    `cfg.matmul == "openblas"` its products run on the pinned kernels on a CPU (products.py)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if cfg.timm_name:
            overlay = {"file": checkpoint} if checkpoint else None
            vit = timm.create_model(
                cfg.timm_name,
                pretrained=pretrained,
                num_classes=num_classes,
                depth=depth,
                pretrained_cfg_overlay=overlay,
            )
        else:
            vit = timm.models.vision_transformer.VisionTransformer(
                img_size=cfg.img_size,
                patch_size=cfg.patch_size,
                embed_dim=cfg.width,
                depth=depth,
                num_heads=cfg.heads,
                mlp_ratio=cfg.mlp_ratio,
                num_classes=num_classes,
                global_pool="token",
            )
    return route_products(vit, cfg.matmul)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 [..., 3, H, W] -> float, (x / 255 - mean) / std."""
    return (images.float() / 255.0 - MEAN) / STD


class TappedViT(nn.Module):
    """A timm ViT with the student protocol: `forward(inputs) -> (ŷ, {"low", "high"})`.

    inputs: uint8 images [R, B, 3, H, W] with R = 1 (or [B, 3, H, W])."""

    def __init__(self, vit: nn.Module, low_block: int, seed: int):
        super().__init__()
        self.vit, self.low_block, self.seeds = vit, low_block, (seed,)
        self.width = vit.embed_dim
        self.matmul = getattr(vit, "matmul", "torch")  # the method's own layers (E*, D*, ...) follow it

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        v = self.vit
        x = v.patch_embed(normalise(images))
        return v.norm_pre(v.patch_drop(v._pos_embed(x)))

    def forward_low(self, inputs: torch.Tensor) -> torch.Tensor:
        images = inputs.flatten(0, 1) if inputs.dim() == 5 else inputs
        x = self.embed(images)
        for block in self.vit.blocks[: self.low_block]:
            x = block(x)
        return x.unsqueeze(0)

    def forward_up(self, state_low: torch.Tensor) -> torch.Tensor:
        x = state_low.flatten(0, 1)
        for block in self.vit.blocks[self.low_block :]:
            x = block(x)
        return x.view(state_low.shape[0], -1, *x.shape[1:])

    def forward_head(self, state_high: torch.Tensor) -> torch.Tensor:
        logits = self.vit.forward_head(self.vit.norm(state_high.flatten(0, 1)))
        return logits.view(state_high.shape[0], -1, logits.shape[-1])

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        """The pooled, normalised features the head reads (what a linear probe fits on) [B, D]."""
        state_high = self.forward_up(self.forward_low(inputs))
        return self.vit.forward_head(self.vit.norm(state_high.flatten(0, 1)), pre_logits=True)

    def forward(self, inputs):
        low = self.forward_low(inputs)
        high = self.forward_up(low)
        return self.forward_head(high), {"low": low, "high": high}


class TeacherUp(nn.Module):
    """h_up: the frozen teacher's blocks after `low_block`, applied to [R, B, N, D] states.
    Its weights get no gradient (and no optimiser sees them); gradients flow through."""

    def __init__(self, teacher: TappedViT):
        super().__init__()
        self.teacher, self.width = teacher, teacher.width
        freeze(teacher)

    def up(self, state: torch.Tensor) -> torch.Tensor:
        return self.teacher.forward_up(state)


def student_from_teacher(teacher: TappedViT, cfg: ViTConfig, num_classes: int, seed: int) -> TappedViT:
    """docs/method.md: patch embedding, class token, position embedding and the first
    `student_depth` blocks copied from the teacher, plus a new head (drawn from the seed).
    Its final norm starts fresh (weight 1, bias 0): the teacher's was fitted to block-12 states."""
    vit = build_vit(cfg, cfg.student_depth, num_classes, seed, pretrained=False)
    source = teacher.vit
    with torch.no_grad():
        for name in ("patch_embed", "norm_pre"):
            getattr(vit, name).load_state_dict(getattr(source, name).state_dict())
        vit.cls_token.copy_(source.cls_token)
        vit.pos_embed.copy_(source.pos_embed)
        for i in range(cfg.student_depth):
            vit.blocks[i].load_state_dict(source.blocks[i].state_dict())
        g = replica_generator(seed, "vision.student.head")
        vit.head.weight.copy_(torch.randn(vit.head.weight.shape, generator=g) * 0.02)
        vit.head.bias.zero_()
    return TappedViT(vit, cfg.low_block, seed)
