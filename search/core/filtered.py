"""Run a long-lived command (the model server) as a child whose stdout and stderr
pass through a line filter: TensorFlow's start-up lines, written by the server's
worker process when it loads the model, and the Keras progress bar its every
prediction draws are not the tool's lines (the server's request log is kept).

The child stays in this process group, so Ctrl-C reaches it directly; this
process ignores SIGINT meanwhile and hands SIGTERM on, then exits with the
child's exit code."""

import signal
import subprocess
import sys
import threading


def run_filtered(command, env, drop):
    """Run `command`; copy each line of its stdout and stderr to ours unless `drop(line)`."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
                signal.SIGTERM: signal.signal(signal.SIGTERM,
                                              lambda number, _: process.send_signal(number))}
    pumps = [threading.Thread(target=_pump, args=(source, target, drop), daemon=True)
             for source, target in ((process.stdout, sys.stdout), (process.stderr, sys.stderr))]
    try:
        for pump in pumps:
            pump.start()
        code = process.wait()
        for pump in pumps:
            pump.join(timeout=5)
        return code
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _pump(source, target, drop):
    for raw in source:
        line = raw.decode(errors="replace")
        if not drop(line):
            target.write(line)
            target.flush()
