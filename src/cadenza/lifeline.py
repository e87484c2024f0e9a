"""Worker processes end when the process that started them dies.

Pool children are spawned and block reading their task queue; every child holds both ends
of that queue's pipe, so a parent killed (or one that exits without closing its pool)
leaves them waiting forever, each holding a few hundred MB. A thread in each child
watches its parent and ends the child when the parent is gone.
"""

from __future__ import annotations

import os
import threading

#: How often a child looks at its parent (seconds).
CHECK_S = 1.0


def exit_with_parent(check_s: float = CHECK_S) -> None:
    """Call in a child process (a pool initializer): it exits once its parent has died."""
    parent = os.getppid()

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(check_s):
            if os.getppid() != parent:  # re-parented: the parent is gone
                os._exit(1)

    threading.Thread(target=watch, name="cadenza-lifeline", daemon=True).start()
