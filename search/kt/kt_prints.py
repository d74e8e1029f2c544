"""keras-tuner's own prints to stdout, kept off the tool's output."""

import contextlib
import io


def parent_condition_quiet():
    """keras-tuner 1.4's `conditions.Parent.to_proto` has a stray print of the
    condition's first value: in distributed mode every message about a
    conditional hyperparameter printed a bare "flatten" line to stdout."""
    from keras_tuner.src.engine import conditions
    to_proto = conditions.Parent.to_proto
    if getattr(to_proto, "quiet", False):
        return

    def quiet_to_proto(self):
        with contextlib.redirect_stdout(io.StringIO()):
            return to_proto(self)
    quiet_to_proto.quiet = True
    conditions.Parent.to_proto = quiet_to_proto
