"""`py-clock-check`: a test handler for `sluice dlq debug` (see tests/integration/dlq_debug.rs).

Fails every event permanently with a message made of the wall clock and random bytes, drawn
through WASI at handle time: a replay reproduces the message only if it gives back the
recorded clock reading and random bytes.
"""

import os
import time

from componentize_py_types import Err
from wit_world import WitWorld as _World
from wit_world.imports.types import Event, Failure_Permanent


class WitWorld(_World):
    """The `handler` world."""

    def handle(self, event: Event) -> None:
        clock = time.time_ns()
        nonce = os.urandom(8).hex()
        raise Err(Failure_Permanent(f"py event {event.id} at {clock} drew {nonce}"))
