"""Data layer: COCO-keypoints reader (top-down crops and targets) and the synthetic people generator.

Kept import-light: `edgepose.data.coco` imports torch and cv2, import it where it is used.
"""
