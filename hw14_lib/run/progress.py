"""Progress bars: a terminal bar on the command line, a widget bar in a Jupyter kernel, and in a saved
notebook the bar's finished state.

A notebook output of a widget holds the widget's id and a text fallback, captured once, when the bar
is first displayed ("0%| | 0/60"). A notebook executed without a front end (``nbconvert``,
``nbval``) and any notebook opened where the widget's model is gone (every notebook from another
machine) shows that fallback, so the finished bar read 0%. The notebook bar displays its widget
with a display id and, when it closes, updates that output, widget and text together, so the saved
text is the final state ("100%| 60/60 ...") while a live front end keeps drawing the widget.

``tqdm.notebook`` (and ipywidgets with it) is imported only inside a kernel, which keeps the command
line's start-up fast.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from tqdm import tqdm as terminal_tqdm


def in_jupyter_kernel() -> bool:
    """Whether this process is an IPython kernel with ipywidgets installed (what ``tqdm.auto`` checks)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or "IPKernelApp" not in shell.config:
        return False
    from tqdm.notebook import IProgress

    return IProgress is not None


@functools.cache
def notebook_progress_bar_class() -> type[terminal_tqdm]:
    """``tqdm.notebook.tqdm`` whose notebook output shows its finished state after ``close()``."""
    from IPython.display import display
    from tqdm.notebook import tqdm as notebook_tqdm

    class NotebookProgressBar(notebook_tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["display"] = False
            super().__init__(*args, **kwargs)
            self._handle = None
            if not self.disable:
                self._handle = display(self.container, display_id=True)
                self.displayed = True  # tqdm would otherwise display the container a second time

        def close(self) -> None:
            super().close()
            if self._handle is not None:
                self._handle.update(self.container)  # the widget again, with the final text fallback
                self._handle = None

    return NotebookProgressBar


def progress_bar(*, total: int, initial: int = 0, desc: str, unit: str = "it", disable: bool = False) -> terminal_tqdm:
    """A progress bar over ``total`` steps starting at ``initial``: the notebook bar above in a Jupyter
    kernel, a terminal ``tqdm`` elsewhere. Call ``close()`` when done (or use ``with``)."""
    cls = notebook_progress_bar_class() if in_jupyter_kernel() else terminal_tqdm
    return cls(total=total, initial=initial, desc=desc, unit=unit, disable=disable)
