"""Paying's entry point: `python -m services.paying`."""

from services.paying.bootstrap import PROCESS
from services.runtime.server import serve

serve(PROCESS)
