"""Test-only: a Ctrl-C at a known point of train.py's start-up, before torch or Lightning is imported."""

import os
import signal

from hydra.experimental.callback import Callback


class CtrlCAtStart(Callback):
    """Built by Hydra as train.py starts (`+hydra.callbacks.ctrl_c._target_=ctrl_c_probe.CtrlCAtStart`)."""

    def __init__(self):
        # As in a terminal: a suite started in the background by a shell without job control inherits Ctrl-C ignored.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.kill(os.getpid(), signal.SIGINT)
