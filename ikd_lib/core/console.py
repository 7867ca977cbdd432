"""What the library says on the console or in a notebook, said once.

Worker processes rebuild the experiment and would repeat every line of its set-up ("where
the data came from"); `say` prints only in the process the user started. `bars_wanted`
tells whether per-stack progress bars help: in JupyterLab they are widgets, on a console
(IKD_PROGRESS=lines, `make tables`) the one-line-per-stack report of core/progress.py
replaces them.
"""

from __future__ import annotations

import multiprocessing
import os


def in_worker() -> bool:
    return multiprocessing.parent_process() is not None


def say(line: str) -> None:
    if not in_worker():
        print(line, flush=True)


def bars_wanted(progress: bool) -> bool:
    return progress and os.environ.get("IKD_PROGRESS") != "lines" and not in_worker()
