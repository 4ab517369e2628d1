"""What a latency number was measured on: CPU model, cores, versions, GPU, and the peak RSS."""

from __future__ import annotations

import os
import platform
import resource
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("torch", "onnxruntime", "openvino", "tensorrt", "numpy")


def cpu_model(cpuinfo: str | None = None) -> str:
    """The 'model name' line of /proc/cpuinfo (platform.processor() elsewhere)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text(errors="replace") if path.exists() else ""
    for line in cpuinfo.splitlines():
        if line.lower().startswith(("model name", "hardware", "cpu model")) and ":" in line:
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def physical_cores(cpuinfo: str | None = None) -> int | None:
    """Distinct (physical id, core id) pairs in /proc/cpuinfo; None where it does not say."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text(errors="replace") if path.exists() else ""
    cores, phys = set(), "0"
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "physical id":
            phys = value.strip()
        elif key == "core id":
            cores.add((phys, value.strip()))
    return len(cores) or None


def package_versions() -> dict[str, str | None]:
    """Installed versions, read from package metadata (nothing heavy is imported)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def environment(device: str = "cpu") -> dict[str, Any]:
    """The `env` object of bench JSON: the CPU and the instruction sets that decide INT8 / bf16 speed, cores,
    versions, the GPU."""
    from edgepose.hardware import cpu_caps

    caps = cpu_caps()
    env: dict[str, Any] = {
        "cpu": cpu_model(),
        "cpu_flags": list(caps.flags),
        "cpu_int8": caps.int8_dot,
        "cpu_bf16": caps.bf16,
        "cores_logical": os.cpu_count(),
        "cores_physical": physical_cores(),
        "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **package_versions(),
        "device": device,
        "gpu": None,
    }
    if device == "cuda":
        import torch

        env["gpu"] = torch.cuda.get_device_name(0)
        env["cuda"] = torch.version.cuda
    return env
