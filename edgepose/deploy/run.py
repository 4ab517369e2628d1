"""`python -m edgepose.deploy.run BUNDLE IMAGE... [--boxes FILE] [--runtime R] [--out FILE]`: poses as JSON.

Needs numpy, opencv and the bundle's runtime only (no torch, no typer). Prints (or writes) a COCO keypoint-results
list, the format `edgepose predict` writes, one entry per person. Exit codes: 0 ok, 2 bad input (one line).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgepose.deploy.boxes import BoxesFile, default_image_id
from edgepose.deploy.images import read_image_rgb
from edgepose.deploy.results import result_entry, write_results
from edgepose.deploy.runner import RUNTIMES, BundleRunner
from edgepose.errors import UserError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgepose.deploy.run", description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="bundle folder (holds edgepose-bundle.json)")
    parser.add_argument("images", nargs="+", help="image files")
    parser.add_argument("--boxes", help="person boxes for top-down bundles: COCO detection results or annotations")
    parser.add_argument("--min-box-score", type=float, default=0.3, help="boxes below this score are dropped")
    parser.add_argument("--runtime", choices=RUNTIMES, help="default: the bundle's own")
    parser.add_argument("--threads", type=int, help="runtime threads")
    parser.add_argument("--out", help="write the results here instead of stdout")
    args = parser.parse_args(argv)
    try:
        entries = run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        write_results(args.out, entries)
    else:
        json.dump(entries, sys.stdout)
        sys.stdout.write("\n")
    return 0


def run(args: argparse.Namespace) -> list[dict]:
    runner = BundleRunner(args.bundle, args.runtime, args.threads)
    boxes = BoxesFile(args.boxes, args.min_box_score) if args.boxes else None
    entries = []
    for number, name in enumerate(args.images, start=1):
        image = read_image_rgb(name)
        image_id = boxes.image_id_for(name, number) if boxes else default_image_id(name, number)
        people = boxes.people(name, image_id) if boxes else None
        if people is not None and runner.config.top_down:
            poses = runner.predict(image, people.boxes_xywh, people.scores)
        else:
            poses = runner.predict(image)
        for pose in poses:
            entries.append(result_entry(pose.keypoints, pose.score, pose.box_xywh, image_id=image_id,
                                        file_name=str(Path(name))))  # fmt: skip
    return entries


if __name__ == "__main__":
    sys.exit(main())
