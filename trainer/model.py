"""The image model: torchvision's ResNet-18 with one output per finding (multi-label)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet18

from trainer.errors import CheckpointError

__all__ = ["build_model"]


def build_model(num_findings: int, pretrained_weights: Path | None = None) -> nn.Module:
    """ResNet-18 with a ``num_findings``-way logit head.

    Parameters
    ----------
    num_findings
        Outputs (sigmoid each for a probability).
    pretrained_weights
        A local torchvision ResNet-18 state dict (e.g. ImageNet); its
        classifier is dropped. Nothing is ever downloaded.

    Raises
    ------
    CheckpointError
        The weights file is missing or is not a ResNet-18 state dict.
    """
    model = resnet18(weights=None)
    if pretrained_weights is not None:
        if not pretrained_weights.is_file():
            raise CheckpointError(f"pretrained weights {pretrained_weights} do not exist")
        state = torch.load(pretrained_weights, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or [k for k in missing if not k.startswith("fc.")]:
            raise CheckpointError(
                f"{pretrained_weights} is not a ResNet-18 state dict "
                f"(missing {len(missing)}, unexpected {len(unexpected)} keys)"
            )
    model.fc = nn.Linear(model.fc.in_features, num_findings)
    return model
