"""Draw main's latency over commits from the history entries the latency-gate workflow keeps.

    python benchmarks/plot_history.py HISTORY_DIR -o latency.png [--last 40]

HISTORY_DIR holds one JSON file per commit of main (benchmarks/summarize_gate.py `entry`). Top: the
model's p50 (and p90) in ms on the runner of that commit, which moves with the runner as much as with
the code. Bottom: each commit's p50 ratio to the previous main with its 95% interval, timed side by
side in one job, and the gate's limit; that is the panel to read. Exit 0, or 2 when there is nothing
to plot or an entry is broken.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

VERDICT_COLORS = {"pass": "tab:green", "fail": "tab:red", "inconclusive": "tab:orange"}
ENTRY_KEYS = ("commit", "timestamp", "p50_ms")


class BadHistory(Exception):
    """No entries, or an entry without the keys a plot needs (exit 2)."""


def load_history(folder: str | Path, last: int | None = None) -> list[dict[str, Any]]:
    """The entries of `folder`, oldest first (by timestamp, then commit), the `last` N of them."""
    entries = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            entry = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise BadHistory(f"{path} is not JSON: {exc}") from None
        missing = [k for k in ENTRY_KEYS if k not in entry]
        if missing:
            raise BadHistory(f"{path} is not a history entry: no {', '.join(missing)}")
        entries.append(entry)
    if not entries:
        raise BadHistory(f"no history entries (*.json) in {folder}")
    entries.sort(key=lambda e: (e["timestamp"], e["commit"]))
    return entries[-last:] if last else entries


def plot_history(entries: list[dict[str, Any]], out: str | Path) -> Path:
    """Two panels over commits: p50 / p90 ms, and the ratio to the previous main with its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = list(range(len(entries)))
    labels = [str(e["commit"])[:7] for e in entries]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8.0, 0.35 * len(entries) + 3), 5.5), sharex=True,
                                      gridspec_kw={"height_ratios": [1, 1.2]})  # fmt: skip
    top.plot(x, [e["p50_ms"] for e in entries], "o-", color="tab:blue", label="p50")
    p90 = [(i, e["p90_ms"]) for i, e in zip(x, entries, strict=True) if e.get("p90_ms") is not None]
    if p90:
        top.plot(*zip(*p90, strict=True), "^", color="tab:blue", alpha=0.4, label="p90")
    top.set_ylabel("latency (ms)")
    top.set_title("main: latency of the exported model per commit")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # outside: never over a point
    top.grid(alpha=0.3)
    top.set_ylim(bottom=0)

    limits = [e["limit"] for e in entries if e.get("limit")]
    for i, e in zip(x, entries, strict=True):
        if e.get("ratio_p50") is None:  # no baseline that day: marked, not left out silently
            bottom.plot([i], [1.0], "x", color="tab:gray")
            continue
        lo, hi = e["ci95"]
        color = VERDICT_COLORS.get(e.get("verdict"), "tab:gray")
        bottom.errorbar([i], [e["ratio_p50"]], yerr=[[e["ratio_p50"] - lo], [hi - e["ratio_p50"]]], fmt="o",
                        color=color, capsize=3)  # fmt: skip
    bottom.axhline(1.0, color="black", lw=0.8)
    if limits:
        bottom.axhline(limits[-1], color="tab:red", ls="--", lw=1, label=f"limit {limits[-1]:.2f}")
        bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    bottom.set_ylabel("p50 ratio to previous main")
    bottom.grid(alpha=0.3)
    bottom.set_xticks(x)
    bottom.set_xticklabels(labels, rotation=60, ha="right", fontsize=7, family="monospace")
    bottom.set_xlabel("commit (oldest left)\nbars: 95% CI; green pass, orange inconclusive, red fail; x: no baseline",
                      fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("history", help="folder of history entries (*.json)")
    parser.add_argument("-o", "--out", default="latency.png")
    parser.add_argument("--last", type=int, default=40, help="plot only the last N commits")
    args = parser.parse_args(argv)
    try:
        entries = load_history(args.history, args.last)
    except BadHistory as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(plot_history(entries, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
