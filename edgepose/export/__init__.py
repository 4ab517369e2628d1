"""Exporters: one pure function per format (onnx.py, openvino.py, tensorrt.py)."""
