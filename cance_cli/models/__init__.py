"""Pure ``nn.Module`` definitions; training loops live in :mod:`cance_cli.training`."""
