"""Export verification (as Polygraphy does): run the exported model and the reference on the same inputs.

Inputs: N random normalised-image-like tensors and, optionally, real images from a COCO-keypoints
file. Reported: max abs error and max error relative to the reference's output range, per output,
and the mean keypoint displacement in pixels after decoding (argmax x stride for heatmaps, over the keypoints
whose reference peak is >= HEATMAP_SEEN when there are any; coords x input size for regression, by edgepose.deploy.decode; for a YOLO-pose head, the seen keypoints of the anchors where
the reference finds a person, decoded by edgepose.deploy.yolo_decode). The gate: fp32 compares the max abs error scaled by
the reference's magnitude, max|c - r| / max(1, max|r|) (default 1e-4: absolute for outputs within +-1, such
as heatmaps, relative for raw detection heads whose values are in the hundreds, where float32 round-off
grows with the value and differs between instruction sets); fp16 compares the error relative to the
output range (default 2e-2) and int8 the decoded keypoint displacement (default 1e-2 of the input diagonal), bf16 too.
A reference output holding NaN or Inf is a UserError: there is nothing to compare against.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edgepose.errors import GateFailed, UserError
from edgepose.heads import output_name

if TYPE_CHECKING:
    from edgepose.artifact import ModelSpec
    from edgepose.runtimes.base import Session

# fp32: 1e-4 of max(1, max|reference|) is ~840 float32 ulps (eps 1.19e-7) of the largest output value
DEFAULT_TOLERANCE = {"fp32": (1e-4, "scaled"), "fp16": (2e-2, "rel"), "int8": (1e-2, "kpt")}
# bf16 (an OpenVINO / torch CPU inference precision) rounds every activation to 8 mantissa bits: judged like INT8,
# by the decoded keypoints, which a flat-ish heatmap's rounding can move but a broken conversion moves far more
DEFAULT_TOLERANCE["bf16"] = (1e-2, "kpt")
# INT8 outputs carry quantization noise by design: a per-element error bound either fails good models or
# passes broken ones. Their parity is the mean decoded-keypoint displacement as a fraction of the input
# diagonal (1%: 1.6 px at 128x96), which a broken conversion (layout, normalisation) exceeds many times.
# A YOLO-pose head is compared at the anchors where the reference finds a person (yolo_displacements). Outputs
# that cannot be decoded (or a YOLO head that finds nobody in any input) fall back to the relative error, bound 0.25.
UNDECODABLE_INT8 = (0.25, "rel")
# A heatmap's argmax is only a position where the map has a peak: on a joint the model cannot see (out of the
# picture, hidden; COCO's face points on a far-away person) the map is flat and INT8 rounding moves its argmax
# anywhere, which says nothing about the conversion. So, as a YOLO-pose head is judged on the keypoints it sees,
# a heatmap head is judged on the keypoints whose reference peak is >= HEATMAP_SEEN (SimpleBaselines' visibility
# threshold, 0.2, on maps trained to peak at 1), and on all of them only when it sees none (an untrained model).
HEATMAP_SEEN = 0.2
METRIC_WORDS = {"abs": "max abs error", "scaled": "max abs error / max(1, max |reference|)",
                "rel": "max error relative to the output range", "kpt": "mean keypoint displacement / input diagonal"}


@dataclass
class ParityReport:
    max_abs_err: float
    max_rel_err: float  # max abs error / (max - min) of the reference output
    max_scaled_err: float  # max abs error / max(1, max |reference|), per output, the largest
    mean_kpt_px: float | None
    max_kpt_px: float | None
    n_random: int
    n_images: int
    precision: str
    tolerance: float
    metric: str  # "abs" | "rel" | "kpt": which error the tolerance bounds
    passed: bool
    per_output: dict[str, dict[str, float]] = field(default_factory=dict)
    checked_value: float = 0.0  # the value compared with the tolerance
    n_keypoints: int = 0  # keypoints decoded from the reference (all inputs, all people)
    n_judged: int = 0  # of those, the ones the kpt metric averages: a heatmap head's seen ones when it sees any

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check(self) -> None:
        """Raise GateFailed (exit 1) when the checked error is above tolerance."""
        if not self.passed:
            value, kind = self.checked_value, METRIC_WORDS[self.metric]
            raise GateFailed(f"export parity failed: {kind} {value:.3g} > tolerance {self.tolerance:g}")


def default_tolerance(precision: str) -> tuple[float, str]:
    return DEFAULT_TOLERANCE.get(precision, DEFAULT_TOLERANCE["fp32"])


def verify_parity(
    reference: Session, candidate: Session, spec: ModelSpec, n_random: int = 8, images: np.ndarray | None = None,
    precision: str = "fp32", tolerance: float | None = None, seed: int = 0,
) -> ParityReport:  # fmt: skip
    """Compare `candidate` with `reference` output by output on random inputs and `images`."""
    tol, metric = default_tolerance(precision)
    if tolerance is not None and not (np.isfinite(tolerance) and tolerance >= 0):
        raise UserError(f"parity tolerance must be a finite number >= 0, got {tolerance}")
    tol = tol if tolerance is None else float(tolerance)
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal(spec.input_shape(1)).astype(np.float32) for _ in range(n_random)]
    if images is not None:
        inputs += [np.asarray(img, dtype=np.float32)[None] for img in images]
    if not inputs:
        raise UserError("parity needs at least one input (--verify-samples >= 1 or --verify-data)")
    abs_err: dict[str, float] = {}
    ranges: dict[str, float] = {}
    scales: dict[str, float] = {}
    displacements: list[np.ndarray] = []
    seen_displacements: list[np.ndarray] = []  # heatmaps: the keypoints the reference sees (peak >= HEATMAP_SEEN)
    for x in inputs:
        ref, cand = reference.run({"input": x}), candidate.run({"input": x})
        for name, r in ref.items():
            if name not in cand:
                raise UserError(f"exported model has no output '{name}' (it has {', '.join(cand)})")
            c = cand[name]
            if c.shape != r.shape:
                raise UserError(f"output '{name}' has shape {c.shape}, the reference {r.shape}")
            if not np.isfinite(r).all():
                raise UserError(
                    f"the source model's output '{name}' holds NaN or Inf: its weights are broken, so there is "
                    "nothing to verify the export against"
                )
            err = np.abs(np.asarray(c, dtype=np.float64) - r)
            abs_err[name] = max(abs_err.get(name, 0.0), float(err.max()) if np.isfinite(err).all() else float("inf"))
            ranges[name] = max(ranges.get(name, 0.0), float(r.max() - r.min()))
            scales[name] = max(scales.get(name, 1.0), float(np.abs(r).max()))
            if spec.head == "yolo" and name == output_name(spec.head):
                moved = yolo_displacements(r, c, spec)
                if moved is not None:
                    displacements.append(moved)
                continue
            ref_kpts, cand_kpts = decode_keypoints(name, r, spec), decode_keypoints(name, c, spec)
            if ref_kpts is not None and cand_kpts is not None:
                moved = np.linalg.norm(ref_kpts - cand_kpts, axis=-1).ravel()
                displacements.append(moved)
                mask = seen_keypoints(name, r, spec)
                seen_displacements.append(moved if mask is None else moved[mask.ravel()])
    per_output = {
        n: {"max_abs_err": abs_err[n], "max_rel_err": abs_err[n] / ranges[n] if ranges[n] > 0 else 0.0,
            "max_scaled_err": abs_err[n] / scales[n], "scale": scales[n]}
        for n in abs_err
    }  # fmt: skip
    max_abs = max(v["max_abs_err"] for v in per_output.values())
    max_rel = max(v["max_rel_err"] for v in per_output.values())
    max_scaled = max(v["max_scaled_err"] for v in per_output.values())
    disp = np.concatenate(displacements) if displacements else None
    seen = np.concatenate(seen_displacements) if seen_displacements else None
    n_keypoints = 0 if disp is None else int(disp.size)
    if seen is not None and seen.size:  # a heatmap model that sees some keypoints: judged on those (module doc)
        disp = seen
    if metric == "kpt" and disp is None:
        tol, metric = UNDECODABLE_INT8 if tolerance is None else (float(tolerance), "rel")
    h, w = spec.input_size
    kpt = float(disp.mean()) / float(np.hypot(h, w)) if disp is not None else 0.0
    checked = {"abs": max_abs, "scaled": max_scaled, "rel": max_rel, "kpt": kpt}[metric]
    return ParityReport(
        max_abs_err=max_abs, max_rel_err=max_rel, max_scaled_err=max_scaled,
        mean_kpt_px=None if disp is None else float(disp.mean()), max_kpt_px=None if disp is None else float(disp.max()),
        n_random=n_random, n_images=0 if images is None else len(images), precision=precision, tolerance=tol,
        metric=metric, passed=bool(checked <= tol), per_output=per_output, checked_value=float(checked),
        n_keypoints=n_keypoints, n_judged=0 if disp is None else int(disp.size),
    )  # fmt: skip


def decode_keypoints(name: str, output: np.ndarray, spec: ModelSpec) -> np.ndarray | None:
    """(N, K, 2) keypoints in input pixels of the head's own output `name` (heatmap argmax x stride, regression
    x size; a clip model's (B, T, K, 2) comes out (B*T, K, 2)); None for another output or a YOLO head (NMS)."""
    from edgepose.deploy.decode import decode_heatmaps, decode_regression

    if name != output_name(spec.head):
        return None
    h, w = spec.input_size
    if spec.head == "heatmap" and output.ndim == 4:
        stride = (w / output.shape[-1], h / output.shape[-2])
        return decode_heatmaps(output, stride=stride, refine="argmax")[..., :2].astype(np.float64)
    if spec.head == "regression" and output.ndim in (3, 4) and output.shape[-1] >= 2:  # 4: clips (N, T, K, 2)
        flat = output.reshape(-1, *output.shape[-2:])
        return decode_regression(flat, spec.input_size)[..., :2].astype(np.float64)
    return None


def seen_keypoints(name: str, output: np.ndarray, spec: ModelSpec) -> np.ndarray | None:
    """(N, K) mask, in decode_keypoints' order, of the keypoints a heatmap head's output sees: a peak of at least
    HEATMAP_SEEN (training targets peak at 1 on a visible joint); None for other heads (every keypoint counts)."""
    if spec.head != "heatmap" or name != output_name(spec.head) or output.ndim != 4:
        return None
    return np.asarray(output, np.float32).reshape(*output.shape[:2], -1).max(axis=-1) >= HEATMAP_SEEN


def yolo_displacements(reference: np.ndarray, candidate: np.ndarray, spec: ModelSpec) -> np.ndarray | None:
    """Keypoint displacement (px) between two raw YOLO-pose outputs (B, C, A) at the anchors where the reference
    finds a person (score > Ultralytics' predict threshold), over the keypoints it sees there; None when it
    finds nobody (a random input: those anchors' keypoints are noise and say nothing about the conversion) or
    when the output is not laid out as Ultralytics' (B, 4*16 + classes + 3K, anchors at strides 8/16/32)."""
    from edgepose.deploy.yolo_decode import CONF_PREDICT, decode_anchors
    from edgepose.schemas import get_schema

    k = get_schema(spec.schema).num_keypoints
    size = tuple(spec.input_size)
    moved = []
    for ref_raw, cand_raw in zip(np.asarray(reference, np.float64), np.asarray(candidate, np.float64), strict=True):
        try:
            _, ref_scores, ref_all = decode_anchors(ref_raw, size, k)
        except ValueError:  # not the Ultralytics layout (channels or anchors do not fit): cannot be decoded here
            return None
        index = np.flatnonzero(ref_scores > CONF_PREDICT)
        if index.size == 0:
            continue
        ref_kpts = ref_all[index]
        _, _, cand_kpts = decode_anchors(cand_raw, size, k, index)
        seen = ref_kpts[..., 2] > 0.5
        if seen.any():
            moved.append(np.linalg.norm(ref_kpts[..., :2] - cand_kpts[..., :2], axis=-1)[seen])
    return np.concatenate(moved) if moved else None


def dataset_images(ann_file: str, spec: ModelSpec, n: int) -> np.ndarray:
    """Up to `n` real inputs, (n, 3, H, W) -- (n, T, 3, H, W) clips for clip models -- normalised by the
    dataset reader with the spec's mean/std.

    `ann_file` may be any image source (edgepose.inference.image_inputs: a folder, a glob, a video, an annotations
    file of another keypoint schema): parity needs images, not labels. YOLO-pose models get letterboxed images.
    """
    from edgepose.inference.image_inputs import has_matching_labels, sample_inputs

    if spec.head == "yolo" or (spec.clip_length is None and not has_matching_labels(ann_file, spec)):
        return sample_inputs(ann_file, spec, n)
    try:
        from edgepose.data.coco import CocoPoseDataset
    except ImportError:
        raise UserError("--verify-data needs the COCO reader edgepose.data.coco, which this install lacks") from None
    clip = spec.clip_length
    dataset = CocoPoseDataset(ann_file, spec, clip_length=clip, clip_stride=clip or 1)
    count = min(n, len(dataset))
    if count == 0:
        raise UserError(f"{ann_file} has no usable annotated persons for --verify-data")
    images = []
    for i in range(count):
        image = dataset[i]["image"]
        array = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
        if tuple(array.shape) != tuple(spec.input_shape(1)[1:]):
            raise UserError(f"--verify-data image {i} has shape {tuple(array.shape)}, the model takes {spec.input_shape(1)[1:]}")
        images.append(array.astype(np.float32))
    return np.stack(images)


def check_source_finite(source: Any, seed: int = 0) -> None:
    """UserError when the source model computes NaN or Inf on a random input (broken weights: an export of
    it cannot be verified, and would score nothing)."""
    from edgepose.runtimes.base import open_session

    session = open_session(source)
    x = np.random.default_rng(seed).standard_normal(source.spec.input_shape(1)).astype(np.float32)
    for name, out in session.run({"input": x}).items():
        if not np.isfinite(out).all():
            raise UserError(f"the model's output '{name}' holds NaN or Inf: its weights are broken, nothing to export")


def verify_export(
    source: Any, exported: Any, precision: str = "fp32", n_random: int = 8, images: np.ndarray | None = None,
    tolerance: float | None = None, threads: int | None = None,
) -> ParityReport:  # fmt: skip
    """Parity of an exported file against its source Artifact (torch eager fp32, or ORT on a source ONNX)."""
    from edgepose.loading import load_artifact
    from edgepose.runtimes.base import open_session

    exported_artifact = load_artifact(exported) if not hasattr(exported, "spec") else exported
    reference = open_session(source, threads=threads)
    candidate = open_session(exported_artifact, threads=threads)
    return verify_parity(
        reference, candidate, source.spec, n_random=n_random, images=images, precision=precision, tolerance=tolerance
    )
