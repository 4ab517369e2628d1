"""edgepose: trained pose checkpoints to fast, verified edge artifacts.

`import edgepose` stays light: torch, onnxruntime, openvino and tensorrt load only where used.
"""

__version__ = "0.1.0"
