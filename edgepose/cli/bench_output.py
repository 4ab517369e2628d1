"""What `edgepose bench` and `bench compare` print: tables, and a progress bar for longer timing runs."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any


class LazyProgress:
    """A progress bar on stderr that appears only once a timing run has lasted `after_s` seconds.

    Short runs print nothing; the bar redraws twice a second, as its thread shares the cores with
    the model being timed.
    """

    def __init__(self, description: str, enabled: bool = True, after_s: float = 2.0):
        self.description, self.enabled, self.after_s = description, enabled, after_s
        self._started: float | None = None  # the first update: opening sessions is not part of the run
        self._bar: Any = None
        self._task: Any = None

    def update(self, done: int, total: int, status: str = "") -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._started = self._started or time.monotonic()
            if time.monotonic() - self._started < self.after_s:
                return
            from edgepose.console import progress

            self._bar = progress()
            self._bar.live.refresh_per_second = 2
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=total, status=status)
        self._bar.update(self._task, completed=done, total=max(total, done), status=status)

    def __enter__(self) -> LazyProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()


def print_bench(result: dict) -> None:
    from rich.table import Table

    from edgepose.console import stdout

    mode = result.get("mode", "latency")
    title = f"edgepose bench: {result['model']} on {result['runtime']} ({result['precision']}, threads {result['threads']}"
    title += f", throughput mode: {result['streams']} streams, {result['infer_requests']} requests in flight)" \
        if mode == "throughput" else ")"  # fmt: skip
    table = Table(title=title)
    lat_label = "latency under load, ms:" if mode == "throughput" else "mean ms"
    for col in ("batch", lat_label, "p50", "p90", "p99", "min", "max", "std", "FPS", "images/s"):
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
        f"peak RSS {result['peak_rss_mb']} MB  |  {env['cpu']} ({', '.join(env.get('cpu_flags') or []) or 'no AVX2'}), "
        f"{env['cores_available']} cores available, "
        f"torch {env['torch']}, onnxruntime {env['onnxruntime']}, openvino {env['openvino']}"
    )


def print_compare(data: dict) -> None:
    from rich.table import Table

    from edgepose.console import stdout

    design = data["design"]
    table = Table(title=f"edgepose bench compare (batch 1, {data['blocks']} {design['order'].upper()} blocks of "
                        f"{design['block_iters']} runs per model)")  # fmt: skip
    for col in ("", "model", "runtime", "p50 ms", "p90 ms", "mean ms", "std ms"):
        table.add_column(col)
    for key in ("a", "b"):
        side, lat = data[key], data[key]["latency_ms"]
        table.add_row(key.upper(), side["model"], side["runtime"], *(f"{lat[k]:.2f}" for k in ("p50", "p90", "mean", "std")))
    stdout.print(table)
    lo, hi = data["ci95"]
    stdout.print(
        f"p50 ratio B/A = {data['ratio_p50']:.3f}  95% CI [{lo:.3f}, {hi:.3f}] over {data['units']} cycles, "
        f"{data['looks']} look(s), {data['seconds']:.1f} s  |  limit {data['limit']:.3f}: pass if CI high < limit, "
        f"fail if CI low > limit  ->  {data['verdict'].upper()} (exit {data['exit_code']})"
    )


def print_profile(profile: dict, max_rows: int = 15) -> None:
    """Time per (op, kernel), largest first, then the one-line reading."""
    from rich.table import Table

    from edgepose.console import stdout

    table = Table(title=f"where the time goes ({profile['runtime']}, {profile['total_ms']:.2f} ms of profiled ops per "
                        f"inference, {profile['iters']} runs)")  # fmt: skip
    for column in ("op", "kernel", "nodes", "ms", "share"):
        table.add_column(column, justify="left" if column in ("op", "kernel") else "right")
    for row in profile["rows"][:max_rows]:
        table.add_row(row["op"], row["kernel"], str(row["nodes"]), f"{row['ms']:.3f}", f"{row['share']:.1%}")
    if len(profile["rows"]) > max_rows:
        rest = profile["rows"][max_rows:]
        table.add_row(f"... {len(rest)} more", "", str(sum(r["nodes"] for r in rest)), f"{sum(r['ms'] for r in rest):.3f}",
                      f"{sum(r['share'] for r in rest):.1%}")  # fmt: skip
    stdout.print(table)
    cpu = profile["cpu"]
    stdout.print(f"CPU: {cpu['model']} ({', '.join(cpu['flags']) or 'no AVX2/AVX-512/VNNI/AMX'})")
    stdout.print(f"[bold]reading:[/] {profile['reading']}")
