"""A user's coco17 SimpleBaseline-R50 with trained weights: the zoo's architecture, the weights from a plain
state-dict file (R50_WEIGHTS; run.sh trains one on synthetic people, since no pretrained R50 can be fetched here)."""

import os

import torch

from edgepose.models import build_model

WEIGHTS = os.environ.get("R50_WEIGHTS", "runs/labelfree/r50_synth.pt")


def build():
    model = build_model("simplebaseline-resnet50")
    payload = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    model.load_state_dict(payload.get("state_dict", payload))
    return model.eval()
