"""`edgepose bench MODEL` (latency percentiles) and `edgepose bench compare A B` (the CI latency gate)."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

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
PrecOpt = Annotated[Optional[str], typer.Option("--precision", help="fp32 | fp16 (torch runtimes; others run the file's)")]  # noqa: UP045


def bench_command(
    model: OptionalModelArg = None,
    runtime: RuntimeOpt = None,
    batch: Annotated[str, typer.Option("--batch", "-b", help="batch sizes, comma separated, e.g. 1,8")] = "1",
    threads: ThreadsOpt = None,
    iters: Annotated[int, typer.Option("--iters", "-n", help="timed iterations per batch size")] = 200,
    seconds: Annotated[
        Optional[float], typer.Option("--seconds", help="time budget per batch size instead of --iters")  # noqa: UP045
    ] = None,
    warmup: WarmupOpt = 10,
    device: DeviceOpt = None,
    precision: PrecOpt = None,
    arch: ArchOpt = None,
    model_factory: FactoryOpt = None,
    trust_checkpoint: TrustOpt = False,
    input_size: InputSizeOpt = None,
    schema: SchemaOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Measure latency (mean, p50, p90, p99, min, max, std), FPS and throughput of MODEL on one runtime.

    Example: edgepose bench model.onnx --runtime onnxruntime --batch 1,8 --threads 2 --json
    """
    from edgepose.bench.benchmark import benchmark, parse_batches
    from edgepose.console import info, print_json

    batches = parse_batches(batch)
    artifact = load_model_arg(model, arch, model_factory, trust_checkpoint, input_size, schema)
    info(f"benchmarking {artifact.path or artifact.arch} on {runtime or 'the default runtime'} at batch {batch} ...")
    result = benchmark(
        artifact, runtime, batches=batches, threads=threads, warmup=warmup, iters=iters, seconds=seconds,
        device=device, precision=precision,
    )  # fmt: skip
    if json_out:
        print_json(result)
        return
    _print_bench(result)


def bench_compare_command(
    model_a: ModelArg,
    model_b: ModelArg,
    runtime: RuntimeOpt = None,
    runtime_b: Annotated[
        Optional[str], typer.Option("--runtime-b", help="runtime for B (default: --runtime, else from B's file type)")  # noqa: UP045
    ] = None,
    fail_if_slower: Annotated[
        str, typer.Option("--fail-if-slower", help="gate: fail when B's p50 is slower than A's by more than this, "
                          "with 95% confidence (e.g. 5%)")
    ] = "5%",
    iters: Annotated[int, typer.Option("--iters", "-n", help="interleaved iterations (each times A and B once)")] = 100,
    warmup: WarmupOpt = 10,
    threads: ThreadsOpt = None,
    device: DeviceOpt = None,
    resamples: Annotated[int, typer.Option("--resamples", help="bootstrap resamples")] = 2000,
    arch: ArchOpt = None,
    model_factory: FactoryOpt = None,
    trust_checkpoint: TrustOpt = False,
    input_size: InputSizeOpt = None,
    schema: SchemaOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Compare B with A, interleaved in one process: p50 ratio B/A with a bootstrap 95% interval; exit 1 if slower.

    Example: edgepose bench compare main.onnx pr.onnx --fail-if-slower 5% --iters 100 --json
    """
    from edgepose.bench.benchmark import bench_result
    from edgepose.bench.compare import compare_sessions, parse_threshold
    from edgepose.console import info, print_json
    from edgepose.errors import GateFailed
    from edgepose.runtimes.base import make_feeds, open_session

    threshold = parse_threshold(fail_if_slower)
    a = load_model_arg(model_a, arch, model_factory, trust_checkpoint, input_size, schema)
    b = load_model_arg(model_b, arch, model_factory, trust_checkpoint, input_size, schema)
    session_a = open_session(a, runtime, threads=threads, device=device)
    session_b = open_session(b, runtime_b or runtime, threads=threads, device=device)
    info(f"A = {model_a} ({session_a.runtime}), B = {model_b} ({session_b.runtime}): {iters} interleaved iterations ...")
    result = compare_sessions(
        session_a, make_feeds(a.spec), session_b, make_feeds(b.spec), iters=iters, warmup=warmup,
        threshold=threshold, resamples=resamples,
    )  # fmt: skip
    data: dict[str, Any] = {
        "ratio_p50": round(result.ratio_p50, 4),
        "ci95": [round(result.ci95[0], 4), round(result.ci95[1], 4)],
        "ratio_of_p50s": round(result.ratio_of_p50s, 4),
        "statistic": "p50 of the paired per-iteration ratios B/A; ci95 by paired bootstrap",
        "a": bench_result(a, session_a, [(1, result.a)]),
        "b": bench_result(b, session_b, [(1, result.b)]),
        "verdict": result.verdict,
        "threshold": threshold,
        "iters": iters,
        "resamples": resamples,
    }
    if json_out:
        print_json(data)
    else:
        _print_compare(data)
    if result.verdict == "fail":
        raise GateFailed(
            f"B is slower than A: p50 ratio {result.ratio_p50:.3f} (95% CI {result.ci95[0]:.3f}-{result.ci95[1]:.3f}) "
            f"> {1 + threshold:.3f}"
        )


def _print_bench(result: dict) -> None:
    from rich.table import Table

    from edgepose.console import stdout

    title = f"edgepose bench: {result['model']} on {result['runtime']} ({result['precision']}, threads {result['threads']})"
    table = Table(title=title)
    for col in ("batch", "mean ms", "p50", "p90", "p99", "min", "max", "std", "FPS", "images/s"):
        table.add_column(col, justify="right")
    for entry in result["batches"]:
        lat = entry["latency_ms"]
        fps = "-" if entry["fps"] is None else f"{entry['fps']:.1f}"
        table.add_row(str(entry["batch"]), *(f"{lat[k]:.2f}" for k in ("mean", "p50", "p90", "p99", "min", "max", "std")),
                      fps, f"{entry['throughput_ips']:.1f}")  # fmt: skip
    stdout.print(table)
    env = result["env"]
    stdout.print(
        f"params {result['params']}  GFLOPs {result['gflops']}  size {result['size_mb']} MB  "
        f"peak RSS {result['peak_rss_mb']} MB  |  {env['cpu']}, {env['cores_available']} cores available, "
        f"torch {env['torch']}, onnxruntime {env['onnxruntime']}, openvino {env['openvino']}"
    )


def _print_compare(data: dict) -> None:
    from rich.table import Table

    from edgepose.console import stdout

    table = Table(title="edgepose bench compare (interleaved, batch 1)")
    for col in ("", "model", "runtime", "p50 ms", "p90 ms", "mean ms", "std ms"):
        table.add_column(col)
    for key in ("a", "b"):
        side, lat = data[key], data[key]["latency_ms"]
        table.add_row(key.upper(), side["model"], side["runtime"], *(f"{lat[k]:.2f}" for k in ("p50", "p90", "mean", "std")))
    stdout.print(table)
    lo, hi = data["ci95"]
    stdout.print(
        f"p50 ratio B/A = {data['ratio_p50']:.3f}  95% CI [{lo:.3f}, {hi:.3f}]  gate: fail if CI low > "
        f"{1 + data['threshold']:.3f}  ->  {data['verdict'].upper()}"
    )
