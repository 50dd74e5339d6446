"""Ordering's entry point: `python -m services.ordering`."""

from services.ordering.bootstrap import PROCESS
from services.runtime.server import serve

serve(PROCESS)
