"""`edgepose zoo`: the architectures edgepose can build, with params and GFLOPs."""

from __future__ import annotations

from edgepose.cli.common import JsonOpt


def zoo_command(json_out: JsonOpt = False) -> None:
    """List the model zoo: name, params, GFLOPs at the default input size (per clip and per frame), schema, kind.

    Example: edgepose zoo --json
    """
    import torch
    from rich.table import Table

    from edgepose.console import print_json, stdout
    from edgepose.models import MODELS, build_model, zoo_info
    from edgepose.models.stats import count_gflops, count_params

    rows = []
    for entry in MODELS:
        info = zoo_info(entry.name)
        with torch.device("meta"):  # shapes only: params and FLOPs need no weights, and no init time
            model = build_model(entry.name)
        h, w = info.spec.input_size
        gflops = count_gflops(model, info.spec)
        rows.append({
            "name": entry.name,
            "params": count_params(model),
            "gflops": round(gflops, 3),  # clip models: the whole clip of clip_length frames
            "gflops_per_frame": round(gflops / (info.spec.clip_length or 1), 3),
            "input_size": [h, w],
            "schema": info.spec.schema,
            "kind": info.kind,
            "head": info.spec.head,
            "clip_length": info.spec.clip_length,
            "description": info.description,
        })  # fmt: skip
    if json_out:
        print_json(rows)
        return
    table = Table(title="edgepose model zoo")
    longest_name = max((len(r["name"]) for r in rows), default=4)
    # the name never wraps or truncates (scripts copy it); on a narrow terminal the description gives way
    table.add_column("name", no_wrap=True, min_width=longest_name)
    numeric = ("params (M)", "GFLOPs", "GF/frame")
    for col in (*numeric, "input", "schema", "kind"):
        table.add_column(col, justify="right" if col in numeric else "left", no_wrap=True)
    table.add_column("description", ratio=1)
    for r in rows:
        size = f"{r['input_size'][0]}x{r['input_size'][1]}" + (f" x{r['clip_length']}f" if r["clip_length"] else "")
        table.add_row(
            r["name"], f"{r['params'] / 1e6:.2f}", f"{r['gflops']:.2f}", f"{r['gflops_per_frame']:.2f}", size,
            r["schema"], r["kind"], r["description"],
        )
    stdout.print(table)
