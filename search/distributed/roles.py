"""keras-tuner's own distributed mode: a chief oracle and workers over gRPC.

Roles come from keras-tuner's environment variables (KERASTUNER_TUNER_ID,
KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT): the chief serves the Hyperband
oracle and, once every trial is done, exports the winner; each worker asks the
chief for trials, trains them and logs them into the chief's MLflow parent run.
Workers need no directory shared with the chief: the parent run id comes from
MLflow (below), a continued trial's checkpoint too when another host trained its
predecessor (both in search/tracking/workers.py).
"""

import os

from search.kt import compat as kt_compat


def role():
    """'chief', 'worker', or None for a plain single-process search."""
    if not kt_compat.has_chief_oracle():
        return None
    return "chief" if kt_compat.is_chief_oracle() else "worker"


def tuner_id():
    return os.environ.get("KERASTUNER_TUNER_ID", "tuner0")


def chief_address():
    return (f"{os.environ.get('KERASTUNER_ORACLE_IP')}:"
            f"{os.environ.get('KERASTUNER_ORACLE_PORT')}")
