"""`edgepose bench MODEL` (latency or throughput) and `edgepose bench compare A B` (the CI latency gate)."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from edgepose.bench.defaults import BLOCK_ITERS, DEFAULT_ITERS, DEFAULT_MAX_SECONDS, EXIT_INCONCLUSIVE
from edgepose.cli.bench_output import LazyProgress, print_bench, print_compare, print_profile
from edgepose.cli.common import (
    ArchOpt,
    FactoryOpt,
    InputSizeOpt,
    JsonOpt,
    ModelArg,
    OptionalModelArg,
    SchemaOpt,
    TrustOpt,
    load_model_arg,
)  # fmt: skip

RuntimeOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--runtime", "-r", help="torch | torch-compile | onnxruntime | onnxruntime-cuda | openvino | tensorrt "
                 "(default: from the file type)"),
]  # fmt: skip
ThreadsOpt = Annotated[Optional[int], typer.Option("--threads", help="CPU threads for the runtime")]  # noqa: UP045
WarmupOpt = Annotated[int, typer.Option("--warmup", help="untimed warm-up iterations")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="cpu | cuda (torch runtimes)")]  # noqa: UP045
PrecOpt = Annotated[Optional[str], typer.Option("--precision", help="fp32 | fp16 | bf16 (torch: fp16 on CUDA, bf16 autocast on CPU; openvino: the inference precision hint; default: the file's)")]  # noqa: UP045
ProgressOpt = Annotated[
    bool, typer.Option("--progress/--no-progress", help="a progress bar on stderr for timing runs longer than 2 s")
]


def bench_command(
    model: OptionalModelArg = None,
    runtime: RuntimeOpt = None,
    batch: Annotated[str, typer.Option("--batch", "-b", help="batch sizes, comma separated, e.g. 1,8")] = "1",
    mode: Annotated[str, typer.Option("--mode", help="latency (one request at a time) | throughput (many in flight: "
                                      "OpenVINO async queue, ONNX Runtime concurrent calls)")] = "latency",  # fmt: skip
    streams: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--streams", help="throughput mode: parallel streams (default: OpenVINO's THROUGHPUT hint "
                     "chooses; ONNX Runtime one per core)"),
    ] = None,  # fmt: skip
    threads: ThreadsOpt = None,
    iters: Annotated[int, typer.Option("--iters", "-n", help="timed iterations (requests) per batch size")] = 200,
    seconds: Annotated[
        Optional[float], typer.Option("--seconds", help="time budget per batch size instead of --iters")  # noqa: UP045
    ] = None,
    warmup: WarmupOpt = 10,
    device: DeviceOpt = None,
    precision: PrecOpt = None,
    show_progress: ProgressOpt = True,
    profile: Annotated[bool, typer.Option("--profile", help="also time each operation with the runtime's profiler "
                                          "(openvino, onnxruntime): a table by op and kernel and what it means on "
                                          "this CPU")] = False,  # fmt: skip
    arch: ArchOpt = None,
    model_factory: FactoryOpt = None,
    trust_checkpoint: TrustOpt = False,
    input_size: InputSizeOpt = None,
    schema: SchemaOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Measure latency (mean, p50, p90, p99, min, max, std), FPS and throughput of MODEL on one runtime.

    --profile adds where the time goes: OpenVINO's performance counters (or ONNX Runtime's profiler) summed by
    operation and kernel, and a one-line reading of them against this CPU's instruction sets.

    --mode throughput keeps many requests in flight, as `benchmark_app -hint throughput` does, and reports
    images/s and each request's latency under that load.

    Example: edgepose bench model.onnx --runtime onnxruntime --batch 1,8 --threads 2 --json

    Example: edgepose bench model.xml --mode throughput --streams 2 --seconds 20
    """
    from edgepose.bench.benchmark import benchmark, parse_batches
    from edgepose.console import info, print_json

    batches = parse_batches(batch)
    artifact = load_model_arg(model, arch, model_factory, trust_checkpoint, input_size, schema)
    info(f"benchmarking {artifact.path or artifact.arch} on {runtime or 'the default runtime'} at batch {batch} "
         f"({mode} mode) ...")  # fmt: skip
    with LazyProgress(f"{mode}", enabled=show_progress) as bar:
        result = benchmark(
            artifact, runtime, batches=batches, threads=threads, warmup=warmup, iters=iters, seconds=seconds,
            device=device, precision=precision, mode=mode, streams=streams,
            on_progress=lambda b, done, total: bar.update(done, total, f"batch {b}"),
        )  # fmt: skip
    if profile:
        from edgepose.bench.profile import profile_model

        info(f"profiling on {result['runtime']} ...")
        result["profile"] = profile_model(artifact, result["runtime"], threads=threads, precision=precision,
                                          iters=min(iters, 50))  # fmt: skip
    if json_out:
        print_json(result)
        return
    print_bench(result)
    if profile:
        print_profile(result["profile"])


def bench_compare_command(
    model_a: ModelArg,
    model_b: ModelArg,
    runtime: RuntimeOpt = None,
    runtime_b: Annotated[
        Optional[str], typer.Option("--runtime-b", help="runtime for B (default: --runtime, else from B's file type)")  # noqa: UP045
    ] = None,
    fail_if_slower: Annotated[
        str, typer.Option("--fail-if-slower", help="threshold T, e.g. 5%: fail when the whole 95% interval of B/A "
                          "is above 1+T, pass when all of it is below, else inconclusive")
    ] = "5%",
    iters: Annotated[
        int, typer.Option("--iters", "-n", help="timed runs per model before the first look")
    ] = DEFAULT_ITERS,
    max_seconds: Annotated[
        float, typer.Option("--max-seconds", help="time budget (warm-up included) for extending an inconclusive "
                            "first look by doubling the blocks; 0: one look only")
    ] = DEFAULT_MAX_SECONDS,
    block_iters: Annotated[int, typer.Option("--block-iters", help="timed runs per block")] = BLOCK_ITERS,
    order: Annotated[str, typer.Option("--order", help="abba (AB BA AB BA ...) | random (a coin flip per pair)")] = "abba",
    ci: Annotated[str, typer.Option("--ci", help="t (t-interval over ABBA cycles) | bootstrap (scipy BCa)")] = "t",
    inconclusive_ok: Annotated[
        bool, typer.Option("--inconclusive-ok", help="exit 0 instead of 4 when the verdict is inconclusive")
    ] = False,
    ort_spinning: Annotated[
        bool, typer.Option("--ort-spinning/--no-ort-spinning", help="let ONNX Runtime's idle threads spin (its "
                           "default; off here, as one session's spinning slows the other after each switch)")
    ] = False,
    warmup: WarmupOpt = 10,
    threads: ThreadsOpt = None,
    device: DeviceOpt = None,
    resamples: Annotated[int, typer.Option("--resamples", help="bootstrap resamples (--ci bootstrap)")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="seeds the block order and the bootstrap")] = 0,
    show_progress: ProgressOpt = True,
    arch: ArchOpt = None,
    model_factory: FactoryOpt = None,
    trust_checkpoint: TrustOpt = False,
    input_size: InputSizeOpt = None,
    schema: SchemaOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Compare B with A in one process, timed in ABBA blocks: p50 ratio B/A with a 95% interval over blocks.

    Exit codes (stable; CI scripts may rely on them): 0 pass (B is not slower than 1+T, with 95%
    confidence), 1 fail (B is slower than 1+T, with 95% confidence), 4 inconclusive (the interval
    straddles 1+T even after extending up to --max-seconds: too noisy to tell; --inconclusive-ok turns
    it into 0), 2 bad input. On a shared machine (a CI runner) use --threads 1: other jobs' preemptions
    make multi-threaded runs far noisier (benchmarks/README.md, "The gate's statistics").

    Example: edgepose bench compare main.onnx pr.onnx --fail-if-slower 5% --threads 1 --json
    """
    from edgepose.bench.compare import parse_threshold
    from edgepose.console import info, print_json
    from edgepose.errors import GateFailed, UserError
    from edgepose.measure import compare_latency

    threshold = parse_threshold(fail_if_slower)
    if max_seconds < 0:
        raise UserError(f"--max-seconds must be >= 0, got {max_seconds:g}")
    a = load_model_arg(model_a, arch, model_factory, trust_checkpoint, input_size, schema)
    b = load_model_arg(model_b, arch, model_factory, trust_checkpoint, input_size, schema)

    def announce(session_a: Any, session_b: Any) -> None:
        info(f"A = {model_a} ({session_a.runtime}), B = {model_b} ({session_b.runtime}): {iters} runs each in ABBA "
             f"blocks of {block_iters}, extended up to {max_seconds:g} s while inconclusive ...")  # fmt: skip

    with LazyProgress("A/B blocks", enabled=show_progress, after_s=0.0) as bar:
        data: dict[str, Any] = compare_latency(
            a, b, runtime, runtime_b, threads=threads, device=device, iters=iters, warmup=warmup,
            spinning=ort_spinning, on_open=announce, threshold=threshold, resamples=resamples, seed=seed,
            block_iters=block_iters, order=order, ci=ci, max_seconds=max_seconds,
            on_progress=lambda p: bar.update(p.pairs_done, p.pairs_planned, _status(p)),
        )  # fmt: skip
    verdict = data["verdict"]
    code = {"pass": 0, "fail": 1, "inconclusive": 0 if inconclusive_ok else EXIT_INCONCLUSIVE}[verdict]
    data.update(max_seconds=max_seconds, resamples=resamples, seed=seed, ort_spinning=ort_spinning, exit_code=code)
    if json_out:
        print_json(data)
    else:
        print_compare(data)
    lo, hi = data["ci95"]
    numbers = f"p50 ratio {data['ratio_p50']:.3f} (95% CI {lo:.3f}-{hi:.3f})"
    if verdict == "fail":
        raise GateFailed(f"B is slower than A: {numbers} > {1 + threshold:.3f}")
    if verdict == "inconclusive":
        info(f"inconclusive: {numbers} straddles {1 + threshold:.3f} after {data['blocks']} blocks in "
             f"{data['seconds']:.0f} s (--max-seconds {max_seconds:g}); too noisy to tell. "
             f"{'exit 0 (--inconclusive-ok)' if inconclusive_ok else 'exit 4'}")  # fmt: skip
        if code:
            raise typer.Exit(code)


def _status(p: Any) -> str:
    if p.ci95 is None:
        return f"{p.elapsed_s:.0f} s"
    return f"look {p.looks}: {p.ratio:.3f} [{p.ci95[0]:.3f}, {p.ci95[1]:.3f}]  {p.elapsed_s:.0f} s"
