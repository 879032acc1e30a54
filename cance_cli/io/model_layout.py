"""What a model folder holds: the manifest's name and format, and each stage's file name by role."""

from __future__ import annotations

MANIFEST = "manifest.json"
FORMAT = "cance-model"
FORMAT_VERSION = 3  # 2: views (input map, input density, neighbours) and their calibration; 3: manifest digest
STAGE_FILES = {"autoencoder": "ae.safetensors", "pca": "pca.safetensors", "density": "nce.safetensors",
               "input_map": "input-map.safetensors", "input_density": "input-nce.safetensors",
               "knn": "knn.safetensors"}
