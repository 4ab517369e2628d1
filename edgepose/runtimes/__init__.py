"""Runtimes behind one Session interface: torch, torch-compile, onnxruntime(-cuda), openvino, tensorrt."""

from edgepose.runtimes.base import (
    RUNTIMES,
    Session,
    available_runtimes,
    is_available,
    make_feeds,
    open_session,
)

__all__ = ["RUNTIMES", "Session", "available_runtimes", "is_available", "make_feeds", "open_session"]
