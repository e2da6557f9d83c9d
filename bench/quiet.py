"""Start each timed run on a quiet database server.

A run that writes hundreds of thousands of rows leaves the server with dirty buffers and
write-ahead log to flush; the checkpoint that flushes them comes when it comes, often in
the middle of the next timed run (a benchmark's, or the other side of a pair). ``settle``
runs that checkpoint before the next run instead.
"""

from __future__ import annotations

import sys

from poms_shared.testing.db import checkpoint


def settle() -> None:
    """``CHECKPOINT`` now; where the server refuses, say why on stderr and go on."""
    if (why := checkpoint()) is not None:
        print(f"bench: no CHECKPOINT before the next run: {why}", file=sys.stderr)
