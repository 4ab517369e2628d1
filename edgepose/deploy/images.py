"""Reading images for the model: uint8 RGB, the order every edgepose model is fed."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgepose.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"
PNG_START, PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"


def read_image_rgb(path: str | Path) -> np.ndarray:
    """uint8 RGB (H, W, 3); UserError naming the file when it cannot be decoded or is truncated.

    cv2 decodes what it can of a truncated JPEG and fills the rest with grey (a warning on stderr is all),
    so a JPEG without its end-of-image marker, or a PNG without its IEND chunk, is checked by PIL (where
    installed), which refuses to decode a truncated file.
    """
    try:
        raw = Path(path).read_bytes()
    except (OSError, ValueError) as exc:
        raise UserError(f"image {path} cannot be read ({exc.strerror if isinstance(exc, OSError) else exc})") from None
    if _looks_truncated(raw) and not _pil_decodes(raw):
        raise UserError(f"image {path} is truncated (the file ends before the image does)")
    image = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_COLOR) if raw else None
    if image is None:
        raise UserError(f"image {path} cannot be read (missing, corrupt or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _looks_truncated(raw: bytes) -> bool:
    """A JPEG or PNG whose last bytes (padding aside) are not its end marker."""
    tail = raw[-4096:].rstrip(b"\x00\r\n\t ")
    if raw.startswith(JPEG_START):
        return not tail.endswith(JPEG_END)
    if raw.startswith(PNG_START):
        return not tail.endswith(PNG_END)
    return False


def _pil_decodes(raw: bytes) -> bool:
    """Whether PIL decodes the whole image (it raises on a truncated one); without PIL, no."""
    import io

    try:
        from PIL import Image
    except ImportError:
        return False
    try:
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
        return True
    except Exception:  # noqa: BLE001  (PIL raises OSError, SyntaxError, ValueError... on broken files)
        return False


def bgr_to_rgb(image_bgr: np.ndarray) -> np.ndarray:
    """An OpenCV (BGR) frame as the RGB array the models take."""
    return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
