"""What a device needs to run an edgepose model, importable without torch (numpy and opencv only; the
runtime, onnxruntime or openvino, only inside the runner).

The one preprocessing (crop.py: the top-down crop affine from a person box; letterbox.py: YOLO's letterbox;
normalize.py: pixel scaling and mean/std), the one decode (decode.py: heatmaps + refinement, regression, flip
helpers, the inverse affine; yolo_decode.py: YOLO-pose anchors, boxes, keypoints, NMS), the model pipeline
that both `edgepose eval` and `edgepose predict` run (model.py), the device bundle (bundle.py: its metadata file;
runner.py and run.py: a runner over onnxruntime or openvino) and One-Euro smoothing (smoothing.py).
"""
