"""Named points where a fault test stops a worker, so it can be killed at exactly that moment.

``failpoint("vm-build-after-create")`` does nothing unless ``KENNEL_FAILPOINT`` names that point (a
test sets it in the worker's environment). Then the worker writes a file of that name into
``KENNEL_FAILPOINT_DIR`` and sleeps until it is killed: the test waits for the file, sends SIGKILL, and
checks that a new worker finishes the work once, with nothing lost and nothing done twice.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings


def failpoint(name: str) -> None:
    """Stop here for good if a fault test asked for this point; otherwise return at once."""
    if not settings.KENNEL_FAILPOINT or name != settings.KENNEL_FAILPOINT:
        return
    if settings.KENNEL_FAILPOINT_DIR:
        Path(settings.KENNEL_FAILPOINT_DIR, name).write_text(str(time.time()))
    while True:  # until the test kills the process
        time.sleep(3600)
