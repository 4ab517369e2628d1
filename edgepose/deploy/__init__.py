"""What a device needs to run a model, importable without torch: numpy, OpenCV and a runtime only.

Nothing in this package may import torch, edgepose.models / data / train, or any other heavy layer
(not even inside a function): `edgepose predict` and a deployed app load it beside an ONNX Runtime or
OpenVINO session, and `eval` uses the same code, so a device runs exactly what was measured.

smoothing: the One-Euro filter (Casiez et al. 2012) for keypoint tracks.
"""
