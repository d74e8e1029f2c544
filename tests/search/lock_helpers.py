"""A real process that holds a project lock (an flock) until it is killed."""

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT

# Takes the lock given as argv[1], says so, and holds it until killed.
HOLDER = """
import sys, time
from search.core.lock import ProjectLock
lock = ProjectLock(sys.argv[1]).acquire()  # held while referenced
print("held", flush=True)
time.sleep(600)
"""


def holder(path):
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert process.stdout.readline().strip() == "held"
    return process
