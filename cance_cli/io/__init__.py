"""Files that pass between stages: checkpoints, tables, output paths, provenance, model folders."""
