"""The device code (moved here from ``edgecnn/core/device.py`` whole; split into one module per concern next)."""

from .memory import *  # noqa: F401,F403
from .memory import _reset_peak, _vm_hwm  # noqa: F401
