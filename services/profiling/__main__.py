"""Profiling's entry point: `python -m services.profiling`."""

from services.profiling.bootstrap import PROCESS
from services.runtime.server import serve

serve(PROCESS)
