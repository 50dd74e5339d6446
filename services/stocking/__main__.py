"""Stocking's entry point: `python -m services.stocking`."""

from services.runtime.server import serve
from services.stocking.bootstrap import PROCESS

serve(PROCESS)
