"""Carting's entry point: `python -m services.carting`."""

from services.carting.bootstrap import PROCESS
from services.runtime.server import serve

serve(PROCESS)
