"""An interrupt the CLI received, recorded as well as raised, so that no writer commits after one."""

from __future__ import annotations

# An interrupt (SIGINT / SIGTERM) the CLI received, recorded as well as raised. A handler's
# exception can be swallowed by the code it lands in (measured: a SIGTERM arriving while
# pyarrow lazily imported pandas vanished, and the command finished and replaced its
# output); every commit point below looks here first, so an interrupted command never
# renames its output into place.
_interrupts: list[type[BaseException]] = []


def record_interrupt(kind: type[BaseException] | None) -> None:
    """Note an interrupt of type ``kind`` (KeyboardInterrupt or the CLI's Terminated);
    ``None`` clears the record (at the start and end of a command)."""
    _interrupts.clear()
    if kind is not None:
        _interrupts.append(kind)


def interrupted() -> type[BaseException] | None:
    """The recorded interrupt's type, if there is one."""
    return _interrupts[0] if _interrupts else None


def raise_if_interrupted() -> None:
    """Raise the recorded interrupt again, if there is one."""
    if _interrupts:
        raise _interrupts[0]()
