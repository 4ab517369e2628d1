"""A user's coco17 SimpleBaseline-R50 (the zoo's architecture, seeded init: no pretrained weights here)."""
import torch

from edgepose.models import build_model


def build():
    torch.manual_seed(0)
    return build_model("simplebaseline-resnet50")
