"""What each task is: its data, loss, metrics, calibration inputs and outputs (see :mod:`.registry`)."""
