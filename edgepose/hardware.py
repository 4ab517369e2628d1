"""What the CPU can do for inference, read from /proc/cpuinfo: the instruction sets that decide how fast INT8
and bf16 run (AVX2, AVX-512, VNNI, AMX, AVX512-BF16).

INT8 dot products: AMX tiles (amx_int8) > VNNI (avx512_vnni / avx_vnni) > plain AVX2 (u8s8 multiply-adds,
barely faster than FP32). bf16: native with amx_bf16 or avx512_bf16; elsewhere a runtime would emulate it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

RELEVANT_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16", "avx512_bf16")
# ONEDNN_MAX_CPU_ISA caps the kernels oneDNN (inside OpenVINO's CPU plugin) may use; edgepose reads the same cap,
# so its choices (bf16 allowed, channel rounding) follow what the runtime will really run. Flags above the cap:
ISA_CAPS = {
    "SSE41": RELEVANT_FLAGS, "AVX": RELEVANT_FLAGS, "AVX2": RELEVANT_FLAGS[1:],
    "AVX2_VNNI": ("avx512f", "avx512_vnni", "amx_int8", "amx_bf16", "avx512_bf16"),
    "AVX512_CORE": ("avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16", "avx512_bf16"),
    "AVX512_CORE_VNNI": ("amx_int8", "amx_bf16", "avx512_bf16"),
    "AVX512_CORE_BF16": ("amx_int8", "amx_bf16"),
}


@dataclass(frozen=True)
class CpuCaps:
    model: str
    flags: tuple[str, ...]  # the RELEVANT_FLAGS this CPU has, in that order

    def has(self, flag: str) -> bool:
        return flag in self.flags

    @property
    def int8_dot(self) -> str:
        """'amx' | 'vnni' | 'avx2' | 'none': the best INT8 dot-product instructions."""
        if self.has("amx_int8"):
            return "amx"
        if self.has("avx512_vnni") or self.has("avx_vnni"):
            return "vnni"
        return "avx2" if self.has("avx2") else "none"

    @property
    def bf16(self) -> str | None:
        """'amx' | 'avx512_bf16' when bf16 runs natively, None when it would be emulated."""
        if self.has("amx_bf16"):
            return "amx"
        if self.has("avx512_bf16"):
            return "avx512_bf16"
        return None

    def describe(self) -> str:
        """One line: model and the flags that matter, e.g. for a report or a bench table."""
        return f"{self.model} ({', '.join(self.flags) or 'none of ' + ', '.join(RELEVANT_FLAGS)})"

    def to_dict(self) -> dict[str, object]:
        return {"model": self.model, "flags": list(self.flags), "int8_dot": self.int8_dot, "bf16": self.bf16}


def parse_cpuinfo(text: str) -> CpuCaps:
    """CpuCaps from the text of /proc/cpuinfo (the first processor's model name and flags)."""
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if not model and key in ("model name", "hardware", "cpu model"):
            model = value.strip()
        elif not flags and key == "flags":
            flags = set(value.split())
    import platform

    return CpuCaps(model or platform.processor() or platform.machine(), tuple(f for f in RELEVANT_FLAGS if f in flags))


# Pruned layers keep a multiple of this many channels (prune round_to "auto"), by the INT8 kernels the CPU runs.
# Measured with benchmarks/r50_ladder.py (r50 pruned to 50% GFLOPs + OpenVINO INT8, round_to 8/16/32/64, on AMX
# kernels and, with ONEDNN_MAX_CPU_ISA=AVX2, on AVX2 ones; benchmarks/README.md): per GFLOP left, no multiple was
# consistently faster on either (ms/GFLOP within ~10%, in no order); coarser multiples only land further below the
# target, costing accuracy. So the finest multiple measured, 8, on both; VNNI-only CPUs are not measured yet.
ROUND_TO_BY_INT8_DOT = {"amx": 8, "vnni": 8, "avx2": 8, "none": 8}


def preferred_round_to(caps: CpuCaps | None = None) -> int:
    """The channel multiple pruned layers should keep on this CPU (ROUND_TO_BY_INT8_DOT of its INT8 kernels)."""
    return ROUND_TO_BY_INT8_DOT[(caps or cpu_caps()).int8_dot]


def require_native_bf16(runtime: str, caps: CpuCaps | None = None) -> None:
    """UserError unless this CPU runs bf16 natively (AMX-BF16 or AVX512-BF16): elsewhere the runtime would
    emulate it, slower than fp32 and still with bf16's rounding."""
    from edgepose.errors import UserError

    caps = caps or cpu_caps()
    if caps.bf16 is None:
        raise UserError(f"bf16 on {runtime} needs a CPU with amx_bf16 or avx512_bf16; {caps.model} has neither "
                        "(it would be emulated, slower than fp32): use fp32 or int8")  # fmt: skip


def cpu_caps() -> CpuCaps:
    """This machine's CPU, capped by ONEDNN_MAX_CPU_ISA when that is set (as the runtime is)."""
    caps = _machine_caps()
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    dropped = ISA_CAPS.get(cap, ())
    if not dropped:
        return caps
    return CpuCaps(f"{caps.model} [ONEDNN_MAX_CPU_ISA={cap}]", tuple(f for f in caps.flags if f not in dropped))


@lru_cache(maxsize=1)
def _machine_caps() -> CpuCaps:
    path = Path("/proc/cpuinfo")
    return parse_cpuinfo(path.read_text(errors="replace") if path.exists() else "")
