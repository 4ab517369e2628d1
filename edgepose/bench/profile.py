"""`bench --profile`: where the time goes, by operation and kernel, and what that means on this CPU.

The runtime's own profiler gives per-node times (OpenVINO's performance counters name the kernel and its
instruction set, e.g. `brgconv_avx512_amx_I8`, `jit_avx2_I8`; ONNX Runtime's profiler names the op and the
execution provider). They are summed by (op, kernel), and `reading` turns the table plus the CPU's flags
into one sentence: which instructions the heavy ops run on and which lever is left.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from edgepose.errors import UserError
from edgepose.hardware import CpuCaps, cpu_caps

if TYPE_CHECKING:
    from edgepose.artifact import Artifact

PROFILED_RUNTIMES = {"openvino": "edgepose.runtimes.openvino", "onnxruntime": "edgepose.runtimes.onnxruntime"}
CONV_OPS = ("Convolution", "GroupConvolution", "ConvolutionBackpropData", "Conv", "QLinearConv", "ConvInteger",
            "ConvTranspose", "FusedConv")  # fmt: skip


def profile_model(artifact: Artifact, runtime: str, threads: int | None = None, precision: str | None = None,
                  iters: int = 50) -> dict[str, Any]:  # fmt: skip
    """The profile JSON: rows by (op, kernel) with count, ms per inference and share, plus the one-line reading."""
    if runtime not in PROFILED_RUNTIMES:
        raise UserError(f"--profile reads the profiler of {' or '.join(PROFILED_RUNTIMES)}; got --runtime {runtime}")
    nodes = importlib.import_module(PROFILED_RUNTIMES[runtime]).profile(artifact, threads=threads,
                                                                         precision=precision, iters=iters)  # fmt: skip
    rows = aggregate(nodes)
    caps = cpu_caps()
    return {"runtime": runtime, "iters": iters, "threads": threads, "precision": precision, "cpu": caps.to_dict(),
            "total_ms": round(sum(r["ms"] for r in rows), 4), "rows": rows,
            "reading": reading(rows, caps, runtime)}  # fmt: skip


def aggregate(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-node times summed by (op, kernel), largest first, with each group's share of the total."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for node in nodes:
        key = (str(node["op"]), str(node["kernel"]))
        row = groups.setdefault(key, {"op": key[0], "kernel": key[1], "nodes": 0, "ms": 0.0})
        row["nodes"] += 1
        row["ms"] += float(node["ms"])
    total = sum(row["ms"] for row in groups.values()) or 1.0
    rows = sorted(groups.values(), key=lambda r: r["ms"], reverse=True)
    return [{**row, "ms": round(row["ms"], 4), "share": round(row["ms"] / total, 4)} for row in rows]


def _isa(kernel: str) -> str:
    """The instruction set a kernel name says it uses: amx | avx512 | avx2 | sse | ref | ''."""
    name = kernel.lower()
    for isa in ("amx", "avx512", "avx2", "sse", "ref"):
        if isa in name:
            return isa
    return ""


def _is_int8(kernel: str, op: str) -> bool:
    return kernel.endswith(("_I8", "_i8", "_U8", "_u8")) or "int8" in kernel.lower() or op in ("QLinearConv", "ConvInteger")


def reading(rows: list[dict[str, Any]], caps: CpuCaps, runtime: str) -> str:
    """One sentence on what the heavy ops run on, and the lever that is left on this CPU."""
    convs = [r for r in rows if r["op"] in CONV_OPS]
    conv_share = sum(r["share"] for r in convs)
    if not convs:
        top = rows[0] if rows else None
        return f"no convolutions profiled; the largest op is {top['op']} ({top['share']:.0%})" if top else "nothing ran"
    int8 = [r for r in convs if _is_int8(r["kernel"], r["op"])]
    int8_share = sum(r["share"] for r in int8)
    float_convs = [r for r in convs if r not in int8]
    float_share = sum(r["share"] for r in float_convs)
    if runtime == "onnxruntime":
        kind = "INT8" if int8_share >= float_share else "float"
        return (f"convolutions take {conv_share:.0%} of the time, {kind} kernels ({int8_share:.0%} INT8); ONNX Runtime "
                f"does not say which instructions: this CPU's best INT8 path is {caps.int8_dot}"
                + (", bf16 is native (try OpenVINO --precision bf16)" if caps.bf16 else ""))  # fmt: skip
    isa = _isa(max(int8 or float_convs, key=lambda r: r["ms"])["kernel"])
    deconv = sum(r["share"] for r in float_convs if r["op"] == "ConvolutionBackpropData")
    if int8_share >= float_share:
        if isa == "amx":
            line = (f"INT8 convolutions run on AMX kernels ({int8_share:.0%} of the time): the fastest INT8 path here; "
                    "fewer channels (structured pruning) is the lever left")  # fmt: skip
        elif caps.int8_dot == "avx2" or isa == "avx2":
            line = (f"INT8 convolutions run on {isa or 'avx2'} kernels (no VNNI): expect INT8 ≈ FP32 here; pruning is "
                    "the lever")  # fmt: skip
        else:
            line = f"INT8 convolutions run on {isa or caps.int8_dot} kernels ({int8_share:.0%} of the time)"
    else:
        line = f"convolutions run in float on {isa or 'unnamed'} kernels ({float_share:.0%} of the time)"
        if caps.bf16:
            line += f"; this CPU has native bf16 ({caps.bf16}): --precision bf16 or INT8 should be faster"
        elif caps.int8_dot in ("amx", "vnni"):
            line += f"; this CPU has {caps.int8_dot.upper()} INT8: quantize"
    if deconv >= 0.2:
        line += (f"; ConvolutionBackpropData (deconv) stays float and takes {deconv:.0%}: the subpixel rewrite turns "
                 "it into a convolution INT8 can run")  # fmt: skip
    return line
