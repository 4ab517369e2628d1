"""The one model pipeline: preprocess -> session -> decode, shared by `edgepose eval`, `edgepose predict`, the
Python API and the device runner (DESIGN.md principle 6: what a device runs is what was measured).

A session is anything with `run({input_name: array}) -> {output_name: array}` (edgepose.runtimes sessions, the
runner's onnxruntime / openvino sessions, a test double). Top-down heads (heatmap, regression) crop person boxes
and map the decoded keypoints back through the float32 inverse affine; YOLO-pose letterboxes the whole image and
decodes boxes + keypoints + NMS.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterator, Sequence
from typing import Protocol

import numpy as np

from edgepose.deploy.clip_window import ClipWindows
from edgepose.deploy.config import ModelConfig
from edgepose.deploy.crop import crop_affine, crop_inverse, warp_crop
from edgepose.deploy.decode import (
    decode_heatmaps,
    decode_regression,
    flip_average,
    to_image_coords,
)
from edgepose.deploy.letterbox import LetterboxMap, letterbox
from edgepose.deploy.normalize import to_model_input
from edgepose.deploy.pose import Pose, instance_scores
from edgepose.deploy.yolo_decode import postprocess
from edgepose.errors import UserError
from edgepose.heads import head_output


class RunsFeeds(Protocol):
    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


class Timer(Protocol):
    def stage(self, name: str) -> contextlib.AbstractContextManager[None]: ...


def run_batch(session: RunsFeeds, images: np.ndarray, head: str) -> np.ndarray:
    """The head's raw output for `images` (B, 3, H, W) or clips (B, T, 3, H, W); clip outputs come back
    flattened to (B*T, K, ...).

    A session that accepts only one batch size (`fixed_batch`, e.g. a static-shape engine) gets chunks of
    that size, the last one padded by repeating its final item. An output holding NaN or Inf is a UserError:
    the weights or the export are broken, and a broken model must not score 0 (or anything).
    """
    fixed = getattr(session, "fixed_batch", None)
    if fixed and len(images) != fixed:
        chunks = []
        for start in range(0, len(images), fixed):
            part = images[start : start + fixed]
            pad = fixed - len(part)
            if pad:
                part = np.concatenate([part, np.repeat(part[-1:], pad, axis=0)])
            chunks.append(_run_once(session, np.ascontiguousarray(part), head)[: fixed - pad])
        out = np.concatenate(chunks)
    else:
        out = _run_once(session, images, head)
    if images.ndim == 5:
        out = out.reshape(-1, *out.shape[2:])
    return require_finite(out)


def require_finite(output: np.ndarray) -> np.ndarray:
    """`output`, or a UserError when the model computed NaN or Inf (broken weights or a broken export)."""
    finite = np.isfinite(output)
    if not finite.all():
        share = 1.0 - float(finite.mean())
        raise UserError(f"the model's output holds NaN or Inf ({share:.0%} of the values of a batch): its weights "
                        "or its export are broken, so there is nothing to score")  # fmt: skip
    return output


def _run_once(session: RunsFeeds, images: np.ndarray, head: str) -> np.ndarray:
    names = tuple(getattr(session, "input_names", ()) or ("input",))
    return np.asarray(head_output(session.run({names[0]: images}), head), dtype=np.float32)


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


def _stage(timer: Timer | None, name: str) -> contextlib.AbstractContextManager[None]:
    return timer.stage(name) if timer is not None else _nothing()


class PoseModel:
    """One model behind a session, with its config: `predict(image_rgb, boxes)` -> poses in image pixels.

    The steps are public because eval batches them its own way (many crops, many images per session call)
    while calling exactly these functions.
    """

    def __init__(self, session: RunsFeeds, config: ModelConfig):
        self.session, self.config = session, config
        schema = config.keypoint_schema
        self.names: tuple[str, ...] = tuple(schema.keypoints)
        self.flip_index = schema.flip_index()
        self._buffer: np.ndarray | None = None  # whole_image's input, reused frame after frame

    # -- top-down (heatmap, regression) -------------------------------------------------------------------
    def crop(self, image_rgb: np.ndarray, boxes_xywh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(inputs (N, 3, H, W) float32, inverse affines (N, 2, 3) float32) for person boxes (N, 4) xywh."""
        cfg = self.config
        boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
        h, w = cfg.input_size
        inputs = np.empty((len(boxes), 3, h, w), dtype=np.float32)
        inverses = np.empty((len(boxes), 2, 3), dtype=np.float32)
        for i, box in enumerate(boxes):
            affine = crop_affine(box, cfg.input_size)
            to_model_input(warp_crop(image_rgb, affine, cfg.input_size), cfg.mean, cfg.std, cfg.scaling, out=inputs[i])
            inverses[i] = crop_inverse(affine)
        return inputs, inverses

    def infer_crops(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(raw output, raw output of the mirrored inputs when the flip test is on) for crops (B[, T], 3, H, W)."""
        images = np.ascontiguousarray(inputs, dtype=np.float32)
        out = run_batch(self.session, images, self.config.head)
        flipped = None
        if self.config.decoder.flip_test:
            flipped = run_batch(self.session, np.ascontiguousarray(images[..., ::-1]), self.config.head)
        return out, flipped

    def decode_crops(self, out: np.ndarray, flipped: np.ndarray | None) -> np.ndarray:
        """Raw top-down outputs -> (N, K, 3) keypoints in model-input pixels (flip-test average when given)."""
        h_in, w_in = self.config.input_size
        dec = self.config.decoder
        head = self.config.head
        if head == "heatmap" and out.ndim == 4:  # (N, K, h, w) heatmaps
            stride_x, stride_y = w_in / out.shape[-1], h_in / out.shape[-2]
            if flipped is not None:
                out = flip_average(out, flipped, head, self.flip_index, w_in)
            return decode_heatmaps(out, (stride_x, stride_y), refine=dec.refine, blur_sigma=dec.blur_sigma)
        if head == "regression" and out.ndim == 3:  # (N, K, 2|3) normalised coordinates
            if flipped is not None:
                out = flip_average(out, flipped, head, self.flip_index, w_in)
            return decode_regression(out, (h_in, w_in))
        raise UserError(f"cannot decode a model output of shape {out.shape} (head '{head}')")

    def keypoints_in_input(self, inputs: np.ndarray) -> np.ndarray:
        """Crops (B[, T], 3, H, W) -> (B[*T], K, 3) keypoints in model-input pixels: infer + decode."""
        return self.decode_crops(*self.infer_crops(inputs))

    def top_down(self, image_rgb: np.ndarray, boxes_xywh: np.ndarray, box_scores: Sequence[float] | None = None,
                 timer: Timer | None = None) -> list[Pose]:  # fmt: skip
        """Poses of the people in `boxes_xywh` (N, 4); person score = box score x mean confident keypoint score."""
        boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
        if not len(boxes):
            return []
        with _stage(timer, "preprocess"):
            inputs, inverses = self.crop(image_rgb, boxes)
        with _stage(timer, "inference"):
            out, flipped = self.infer_crops(inputs)
        with _stage(timer, "postprocess"):
            return self._crop_poses(out, flipped, inverses, boxes, box_scores)

    def top_down_clip(self, image_rgb: np.ndarray, boxes_xywh: np.ndarray, windows: ClipWindows,
                      tracks: Sequence[Hashable | None], box_scores: Sequence[float] | None = None,
                      timer: Timer | None = None) -> list[Pose]:  # fmt: skip
        """A clip model's poses in one video frame: each person's window of its track's last T crops goes
        through the model and the newest frame's output is the pose (edgepose.deploy.clip_window)."""
        boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
        if not len(boxes):
            return []
        t_len = int(self.config.clip_length or 1)
        with _stage(timer, "preprocess"):
            crops, inverses = self.crop(image_rgb, boxes)
            clips = windows.windows(crops, tracks)
        with _stage(timer, "inference"):
            out, flipped = self.infer_crops(clips)  # (N*T, K, ...): keep each window's last frame
            out = out[t_len - 1 :: t_len]
            flipped = None if flipped is None else flipped[t_len - 1 :: t_len]
        with _stage(timer, "postprocess"):
            return self._crop_poses(out, flipped, inverses, boxes, box_scores)

    def _crop_poses(self, out: np.ndarray, flipped: np.ndarray | None, inverses: np.ndarray, boxes: np.ndarray,
                    box_scores: Sequence[float] | None) -> list[Pose]:  # fmt: skip
        """The crops' outputs decoded into image coordinates, one Pose per box (score = box score x mean
        confident keypoint score)."""
        keypoints = to_image_coords(self.decode_crops(out, flipped), inverses)
        given = None if box_scores is None else np.asarray(box_scores, dtype=np.float64)
        scores = instance_scores(keypoints[..., 2], box_scores=given)
        xyxy = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)
        return [Pose(keypoints[i], xyxy[i], float(scores[i]), self.names, None,
                     None if given is None else float(given[i])) for i in range(len(boxes))]  # fmt: skip

    # -- whole image (YOLO-pose) --------------------------------------------------------------------------
    def letterbox(self, images_rgb: Sequence[np.ndarray], out: np.ndarray | None = None
                  ) -> tuple[np.ndarray, list[LetterboxMap]]:  # fmt: skip
        """(inputs (B, 3, H, W) float32, one letterbox map per image) for whole images, written into `out` when
        it is given (predict reuses one buffer per frame: a fresh 640x640 input costs more in page faults than
        in arithmetic)."""
        cfg = self.config
        h, w = cfg.input_size
        inputs = np.empty((len(images_rgb), 3, h, w), dtype=np.float32) if out is None else out
        maps = []
        for i, image in enumerate(images_rgb):
            boxed, lb = letterbox(image, cfg.input_size)
            to_model_input(boxed, cfg.mean, cfg.std, cfg.scaling, out=inputs[i])
            maps.append(lb)
        return inputs, maps

    def decode_detections(self, raw: np.ndarray, maps: Sequence[LetterboxMap]
                          ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:  # fmt: skip
        """Raw (B, C, A) -> per image (boxes (N, 4) xyxy, scores (N,), keypoints (N, K, 3)) in image pixels."""
        dec = self.config.decoder
        found = postprocess(raw, self.config.input_size, len(self.names), dec.conf, dec.iou, dec.max_det,
                            dec.strides, dec.reg_max)  # fmt: skip
        return [(lb.boxes_to_image(det.boxes), det.scores, lb.to_image(det.keypoints).astype(np.float32))
                for det, lb in zip(found, maps, strict=True)]  # fmt: skip

    def whole_image(self, image_rgb: np.ndarray, timer: Timer | None = None) -> list[Pose]:
        """Every person a YOLO-pose model finds in the image, best first."""
        with _stage(timer, "preprocess"):
            h, w = self.config.input_size
            if self._buffer is None:
                self._buffer = np.empty((1, 3, h, w), dtype=np.float32)
            inputs, maps = self.letterbox([image_rgb], out=self._buffer)
        with _stage(timer, "inference"):
            raw = run_batch(self.session, inputs, self.config.head)
        with _stage(timer, "postprocess"):
            boxes, scores, keypoints = self.decode_detections(raw, maps)[0]
            return [Pose(keypoints[i], boxes[i], float(scores[i]), self.names, None, float(scores[i]))
                    for i in range(len(scores))]  # fmt: skip

    def predict(self, image_rgb: np.ndarray, boxes_xywh: np.ndarray | None = None,
                box_scores: Sequence[float] | None = None, timer: Timer | None = None) -> list[Pose]:  # fmt: skip
        """Poses in one RGB image. Top-down models use `boxes_xywh` (default: the whole image as one person);
        YOLO-pose models find the people themselves (boxes are not used)."""
        if self.config.clip_length:
            raise UserError("clip (temporal) models take T frames per person: use top_down_clip on a video "
                            "(edgepose predict does, per track)")
        if not self.config.top_down:
            return self.whole_image(image_rgb, timer)
        if boxes_xywh is None:
            h, w = image_rgb.shape[:2]
            boxes_xywh = np.array([[0.0, 0.0, float(w), float(h)]])
        return self.top_down(image_rgb, boxes_xywh, box_scores, timer)

