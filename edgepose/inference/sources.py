"""What `edgepose predict` reads: images, folders, globs, video files and cameras, as one stream of frames.

A SOURCE argument is an image file, a folder (its images, sorted by name, not recursive), a glob pattern
(`'clips/*.jpg'`, quoted so the shell leaves it alone), or a video file; `--camera N` opens camera N
(cv2.VideoCapture; not tested here, no camera on these machines). Frames come as BGR arrays (OpenCV's
order) with their place in the source and a time stamp: a video's own frame time, images at `image_fps`.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgepose.deploy.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from edgepose.errors import UserError

DEFAULT_IMAGE_FPS = 30.0  # the frame rate assumed for image sequences (tracking, smoothing)


@dataclass
class Frame:
    image_bgr: np.ndarray
    source: str  # the image or video path, or "camera:N"
    frame_index: int  # 0-based within a video; 0 for a still image
    time_s: float
    file_name: str | None  # the image's path (None for video frames)
    video: bool  # frames of one stream (tracking and smoothing apply)


@dataclass
class Source:
    """One input: a list of image files, or one video / camera stream."""

    name: str
    images: list[Path] | None = None
    video: str | int | None = None
    fps: float = DEFAULT_IMAGE_FPS
    frame_count: int | None = None

    @property
    def is_stream(self) -> bool:
        return self.video is not None


def expand_sources(sources: list[str], camera: int | None = None, image_fps: float = DEFAULT_IMAGE_FPS) -> list[Source]:
    """The Sources named on the command line, checked; UserError for one that names nothing readable."""
    found: list[Source] = []
    for text in sources:
        path = Path(text)
        if any(ch in text for ch in "*?[") and not path.exists():
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True))
            images = [p for p in matches if p.suffix.lower() in IMAGE_SUFFIXES]
            videos = [p for p in matches if p.suffix.lower() in VIDEO_SUFFIXES]
            if not images and not videos:
                raise UserError(f"SOURCE '{text}' matches no image or video file")
            if images:
                found.append(Source(text, images=images, fps=image_fps))
            found.extend(_video(p) for p in videos)
        elif path.is_dir():
            images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise UserError(f"SOURCE folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            found.append(Source(str(path), images=images, fps=image_fps))
        elif path.is_file():
            suffix = path.suffix.lower()
            if suffix in VIDEO_SUFFIXES:
                found.append(_video(path))
            elif suffix in IMAGE_SUFFIXES:
                found.append(Source(str(path), images=[path], fps=image_fps))
            else:
                raise UserError(f"SOURCE {path} is neither an image ({', '.join(IMAGE_SUFFIXES)}) nor a video "
                                f"({', '.join(VIDEO_SUFFIXES)})")  # fmt: skip
        else:
            raise UserError(f"SOURCE {path} not found")
    if camera is not None:
        found.append(Source(f"camera:{camera}", video=int(camera), fps=DEFAULT_IMAGE_FPS))
    if not found:
        raise UserError("give at least one SOURCE (image, folder, glob, video) or --camera N")
    return found


def _video(path: Path) -> Source:
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise UserError(f"video {path} cannot be opened (missing codec or not a video)")
        fps = float(capture.get(cv2.CAP_PROP_FPS)) or DEFAULT_IMAGE_FPS
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    return Source(str(path), video=str(path), fps=fps if fps > 0 else DEFAULT_IMAGE_FPS,
                  frame_count=count if count > 0 else None)  # fmt: skip


def frame_total(sources: list[Source]) -> int | None:
    """How many frames the sources hold, when every one knows (a camera does not)."""
    total = 0
    for src in sources:
        n = len(src.images) if src.images is not None else src.frame_count
        if n is None:
            return None
        total += n
    return total


def read_frames(source: Source) -> Iterator[Frame]:
    """The frames of one source, in order; an unreadable image is a UserError naming it."""
    import cv2

    if source.images is not None:
        for index, path in enumerate(source.images):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise UserError(f"image {path} cannot be read (corrupt or not an image)")
            yield Frame(image, str(path), 0, index / source.fps, str(path), video=False)
        return
    capture = cv2.VideoCapture(source.video)
    if not capture.isOpened():
        raise UserError(f"{source.name} cannot be opened")
    try:
        index = 0
        while True:
            ok, image = capture.read()
            if not ok:
                break
            yield Frame(image, source.name, index, index / source.fps, None, video=True)
            index += 1
    finally:
        capture.release()
