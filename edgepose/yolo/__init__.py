"""YOLO-pose outside the network: letterbox, numpy decode + NMS, multi-person evaluation, training task.

Kept import-light: torch is imported only by the training modules (data, assigner, loss, task).
"""
