"""Progress bars of long steps (Rich, on stderr, only when stderr is a terminal)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def progress_bar(total: int, description: str, enabled: bool = True) -> Iterator:
    """A Rich progress bar on stderr; yields ``advance(message)``.

    Shown only when stderr is a terminal: in pipelines and CI logs a failed
    command's stderr is its one error line.
    """
    from rich.console import Console

    from cance_cli.runtime.interrupts import raise_if_interrupted

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        # Each step also looks for an interrupt a library swallowed (artifacts.record_interrupt):
        # a long fit then stops at its next epoch instead of running to the end.
        yield lambda message="": raise_if_interrupted()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("{task.fields[message]}"),
        console=console, transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total, message="")

        def advance(message: str = "") -> None:
            raise_if_interrupted()
            progress.update(task, advance=1, message=message)

        try:
            yield advance
        except BaseException:
            progress.live.transient = True  # a failed run leaves only its one error line
            raise
