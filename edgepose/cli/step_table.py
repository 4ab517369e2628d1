"""The before/after table every optimization command prints (prune, ghost, quantize)."""

from __future__ import annotations

from typing import Any


def print_step(report: dict[str, Any], title: str) -> None:
    """Rows: params, GFLOPs, size, latency p50 (and speedup with its CI), accuracy (and drop)."""
    from rich.table import Table

    from edgepose.console import stdout

    table = Table(title=title)
    for column in ("", "before", "after", "change"):
        table.add_column(column, justify="left" if not column else "right")
    before, after = report["before"], report["after"]
    table.add_row("params (M)", _m(before["params"]), _m(after["params"]), _ratio(report.get("params_ratio")))
    table.add_row("GFLOPs", _f(before["gflops"], 3), _f(after["gflops"], 3), _ratio(report.get("gflops_ratio")))
    table.add_row("size (MB)", _f(before["size_mb"], 2), _f(after["size_mb"], 2), "")
    latency = report.get("latency")
    if latency:
        lo, hi = latency["speedup_ci95"]
        table.add_row(
            f"p50 latency (ms, {latency['runtime_a']}, {latency['threads'] or 'default'} threads)",
            _f(latency["a"]["latency_ms"]["p50"], 2), _f(latency["b"]["latency_ms"]["p50"], 2),
            f"{latency['speedup']:.2f}x faster [{lo:.2f}, {hi:.2f}]",
        )  # fmt: skip
    accuracy = report.get("accuracy")
    if accuracy:
        drop = accuracy["drop_points"]
        table.add_row(
            f"{accuracy['metric']} ({accuracy['n_instances']} people)", _f(accuracy["before"], 4),
            _f(accuracy["after"], 4), "-" if drop is None else f"{-drop:+.2f} points",
        )  # fmt: skip
    stdout.print(table)


def _m(value: Any) -> str:
    return "-" if value is None else f"{value / 1e6:.3f}"


def _f(value: Any, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ratio(value: Any) -> str:
    return "" if value is None else f"x{value:.3f}"


def print_finetune(records: list[dict[str, Any]] | dict[str, Any] | None) -> None:
    """What each recovery fine-tune trained on (labels or the teacher's outputs), how it was validated, how many
    epochs it took (and whether --max-drop stopped it), and its curve."""
    from edgepose.console import stdout

    for record in [records] if isinstance(records, dict) else records or []:
        if not record or "targets" not in record:
            continue
        stop = ""
        if record.get("max_drop") is not None:
            stop = (f"; --max-drop {record['max_drop']}: " + ("reached, stopped" if record["stopped_early"]
                    else "ran to the epoch limit") + f" after {record['epochs']} of {record['max_epochs']} epochs")  # fmt: skip
        stdout.print(f"fine-tune: {record['epochs']} epochs (best {record['best_epoch'] or 'the start'}), targets: {record['targets']}; "
                     f"validation: {record['validation']}{stop}")  # fmt: skip
        metric = record.get("metric")
        points = [f"{p['epoch']}: {p[metric]:.4g}" + (f" (drop {p['drop_points']:.2f})" if "drop_points" in p else "")
                  for p in record.get("curve", []) if p.get(metric) is not None]  # fmt: skip
        if points:
            stdout.print(f"  {metric} per epoch: " + ", ".join(points))
