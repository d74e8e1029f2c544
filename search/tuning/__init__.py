"""Tuning stage: the Hyperband tuner, its plan and dry run, training choices,
checkpoint budget, devices and progress."""
