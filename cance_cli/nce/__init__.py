"""Pieces of the noise-contrastive density: statistics, noise, augmentation."""
