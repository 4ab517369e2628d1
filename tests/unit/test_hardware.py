"""CPU capabilities from /proc/cpuinfo, bf16 refused where it would be emulated, and the profile's reading."""

from __future__ import annotations

import pytest

from edgepose.bench.profile import aggregate, reading
from edgepose.errors import UserError
from edgepose.hardware import CpuCaps, cpu_caps, parse_cpuinfo, require_native_bf16

EPYC = "processor: 0\nmodel name: AMD EPYC 7B13\nflags: fpu sse sse2 avx avx2 fma\n"
XEON = ("processor: 0\nmodel name: Intel(R) Xeon(R) Processor\nflags: avx2 avx512f avx512_vnni avx_vnni "
        "amx_int8 amx_bf16 avx512_bf16 amx_tile\n")  # fmt: skip


def test_cpuinfo_flags_decide_the_int8_and_bf16_paths() -> None:
    epyc, xeon = parse_cpuinfo(EPYC), parse_cpuinfo(XEON)
    assert epyc.model == "AMD EPYC 7B13" and epyc.flags == ("avx2",)
    assert (epyc.int8_dot, epyc.bf16) == ("avx2", None)
    assert (xeon.int8_dot, xeon.bf16) == ("amx", "amx")
    vnni_only = parse_cpuinfo("model name: x\nflags: avx2 avx512f avx512_vnni\n")
    assert (vnni_only.int8_dot, vnni_only.bf16) == ("vnni", None)
    assert "avx512_vnni" in vnni_only.describe()
    assert isinstance(cpu_caps(), CpuCaps)  # this machine's, whatever it is


def test_bf16_is_refused_where_it_would_be_emulated() -> None:
    with pytest.raises(UserError, match="amx_bf16 or avx512_bf16"):
        require_native_bf16("openvino", parse_cpuinfo(EPYC))
    require_native_bf16("openvino", parse_cpuinfo(XEON))  # native: no error


def _rows(*nodes: tuple[str, str, float]) -> list[dict]:
    return aggregate([{"node": f"n{i}", "op": op, "kernel": kernel, "ms": ms} for i, (op, kernel, ms) in enumerate(nodes)])


def test_aggregate_sums_by_op_and_kernel_largest_first() -> None:
    rows = _rows(("Convolution", "jit_avx2_I8", 2.0), ("Convolution", "jit_avx2_I8", 1.0), ("Concat", "ref_I8", 1.0))
    assert [(r["op"], r["nodes"], r["ms"], r["share"]) for r in rows] == [
        ("Convolution", 2, 3.0, 0.75), ("Concat", 1, 1.0, 0.25)]  # fmt: skip


@pytest.mark.parametrize(
    ("cpu", "nodes", "expected"),
    [
        (EPYC, [("Convolution", "jit_avx2_I8", 5.0)], "no VNNI): expect INT8 ≈ FP32 here; pruning is the lever"),
        (XEON, [("Convolution", "brgconv_avx512_amx_I8", 5.0)], "INT8 convolutions run on AMX kernels"),
        (XEON, [("Convolution", "brgconv_avx512_f32", 5.0)], "native bf16 (amx): --precision bf16 or INT8"),
        (EPYC, [("Convolution", "jit_avx2_I8", 2.0), ("ConvolutionBackpropData", "jit_avx2_f32", 3.0)],
         "the subpixel rewrite"),
    ],
)  # fmt: skip
def test_reading_names_the_kernels_and_the_lever(cpu: str, nodes: list, expected: str) -> None:
    assert expected in reading(_rows(*nodes), parse_cpuinfo(cpu), "openvino")


@pytest.mark.parametrize("runtime", ["openvino", "torch"])
def test_bf16_runs_close_to_fp32_where_native_and_is_refused_elsewhere(runtime: str, tiny_pose_net) -> None:  # noqa: ANN001
    import numpy as np

    from edgepose.runtimes import make_feeds, open_session

    if cpu_caps().bf16 is None:
        with pytest.raises(UserError, match="bf16"):
            open_session(tiny_pose_net, runtime, threads=1, precision="bf16")
        return
    feeds = make_feeds(tiny_pose_net.spec, batch=2, seed=1)
    fp32 = next(iter(open_session(tiny_pose_net, runtime, threads=1).run(feeds).values()))
    session = open_session(tiny_pose_net, runtime, threads=1, precision="bf16")
    bf16 = next(iter(session.run(feeds).values()))
    assert session.precision == "bf16" and bf16.dtype == np.float32
    # bf16 keeps 8 bits of mantissa (relative step 2**-8 per rounding); three layers stay well inside 5% of the range
    assert np.abs(bf16 - fp32).max() <= 5e-2 * (fp32.max() - fp32.min())
    assert not np.array_equal(bf16, fp32)  # it did run in bf16


def test_onednn_isa_cap_is_followed(monkeypatch: pytest.MonkeyPatch) -> None:
    """ONEDNN_MAX_CPU_ISA caps OpenVINO's kernels; edgepose's view of the CPU follows it."""
    from edgepose import hardware

    monkeypatch.setattr(hardware, "_machine_caps", lambda: parse_cpuinfo(XEON))
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    capped = hardware.cpu_caps()
    assert capped.flags == ("avx2",) and (capped.int8_dot, capped.bf16) == ("avx2", None)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_VNNI")
    assert (hardware.cpu_caps().int8_dot, hardware.cpu_caps().bf16) == ("vnni", None)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    assert hardware.cpu_caps().int8_dot == "amx"


def test_round_to_auto_follows_the_int8_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pruning's channel multiple by CPU: the table's value for each INT8 path, ONEDNN_MAX_CPU_ISA included."""
    from edgepose import hardware

    assert hardware.preferred_round_to(parse_cpuinfo(EPYC)) == hardware.ROUND_TO_BY_INT8_DOT["avx2"]
    assert hardware.preferred_round_to(parse_cpuinfo(XEON)) == hardware.ROUND_TO_BY_INT8_DOT["amx"]
    monkeypatch.setattr(hardware, "_machine_caps", lambda: parse_cpuinfo(XEON))
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert hardware.preferred_round_to() == hardware.ROUND_TO_BY_INT8_DOT["avx2"]
    assert all(isinstance(v, int) and v >= 1 for v in hardware.ROUND_TO_BY_INT8_DOT.values())
