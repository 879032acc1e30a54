"""Samplers of the energy-based detectors (NAE, MPDR): Langevin chains and a replay buffer.

Pure functions over tensors and one small container; the training loops in
:mod:`cance_cli.training` call them.
"""
