"""Measuring on the target device itself: bundles run ``infer.py --profile`` there, over OpenSSH."""

from .hosts import DeviceError, Host, LocalHost, SshHost, make_host
from .run import DeviceOptions, DeviceResult, measure_on, run_on_devices

__all__ = ["DeviceError", "DeviceOptions", "DeviceResult", "Host", "LocalHost", "SshHost", "make_host", "measure_on",
           "run_on_devices"]
