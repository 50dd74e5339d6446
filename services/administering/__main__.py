"""Administering's entry point: `python -m services.administering`."""

from services.administering.bootstrap import PROCESS
from services.runtime.server import serve

serve(PROCESS)
