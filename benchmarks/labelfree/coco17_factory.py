"""A user's own coco17 top-down model file: the demo checkpoint's trained SimpleBaseline-lite weights, built here."""
from pathlib import Path

import torch

import edgepose
from edgepose.models import build_model


def build():
    model = build_model("simplebaseline-lite", num_keypoints=17)
    ckpt = torch.load(Path(edgepose.__file__).parent / "checkpoints" / "demo-coco17-lite.pt", weights_only=True,
                      map_location="cpu")
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()
