"""`edgepose predict` and the Python API around the one pose pipeline (edgepose.deploy.model): sources (images,
folders, globs, videos, cameras), person boxes (a boxes file, a YOLO-pose detector, the whole frame), tracking
(ByteTrack), One-Euro smoothing and jitter, writers (COCO results JSON, CSV, overlays), per-stage timing, and
`Predictor` / `predict` (exported as edgepose.Predictor and edgepose.predict).

Named `inference`, not `predict`, so that `edgepose.predict` can be the function: a subpackage of that name
would replace the function on the package as soon as anything imported it.
"""
