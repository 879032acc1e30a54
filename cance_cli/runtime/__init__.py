"""How commands run: interrupts, side-by-side fits, torchrun groups, progress."""
