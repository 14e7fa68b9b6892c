"""A plain-text progress line every N training steps (logs, not terminals)."""

import sys
import time

import keras

from kzoo._api import kzoo_export


@kzoo_export("kzoo.eval.ProgressLogger")
class ProgressLogger(keras.callbacks.Callback):
    """Prints one line every `every_n_steps` training steps, and per epoch.

    Keras' progress bar (`verbose=1`) redraws one line with carriage
    returns, which is right on a terminal and unreadable in a log file or
    CI output; `verbose=2` prints nothing until an epoch ends, minutes of
    silence on a CPU. This callback prints, flushed at once,

        epoch 2/5 step 100/390 (26%) loss -0.4123 | 113.2 img/s, eta 4m12s

    every `every_n_steps` steps (the logged metrics are Keras' running
    means over the epoch so far), and a summary line at the end of each
    epoch with its wall time and every epoch log (monitors such as
    `kzoo.eval.KNNMonitor` placed before it included). Use it with
    `fit(verbose=0)`; `kzoo.runs.fit_verbosity()` picks the progress bar
    on a terminal and this logger otherwise.

    Args:
        every_n_steps: period in steps. Defaults to `50`.
        batch_size: global batch size, for the images/s figure; `None`
            omits it. Defaults to `None`.
        stream: where to print. Defaults to `None` (`sys.stdout`).
    """

    def __init__(self, every_n_steps=50, batch_size=None, stream=None):
        super().__init__()
        if int(every_n_steps) != every_n_steps or every_n_steps < 1:
            raise ValueError(
                "`every_n_steps` must be a positive integer. "
                f"Received: every_n_steps={every_n_steps}")
        self.every_n_steps = int(every_n_steps)
        self.batch_size = batch_size
        self.stream = stream

    def _print(self, text):
        stream = self.stream or sys.stdout
        print(text, file=stream, flush=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_start = time.time()
        self._steps_done = 0

    @staticmethod
    def _format_logs(logs):
        return " ".join(
            f"{k} {float(v):.4f}" for k, v in (logs or {}).items()
            if _is_number(v))

    def on_train_batch_end(self, batch, logs=None):
        self._steps_done = batch + 1
        if (batch + 1) % self.every_n_steps:
            return
        params = self.params or {}
        steps = params.get("steps")
        epochs = params.get("epochs")
        elapsed = max(time.time() - self._epoch_start, 1e-9)
        parts = [f"epoch {self._epoch + 1}"
                 + (f"/{epochs}" if epochs else "")]
        if steps:
            parts.append(f"step {batch + 1}/{steps} "
                         f"({100 * (batch + 1) // steps}%)")
        else:
            parts.append(f"step {batch + 1}")
        line = " ".join(parts) + " " + self._format_logs(logs)
        extra = []
        if self.batch_size:
            extra.append(
                f"{(batch + 1) * self.batch_size / elapsed:.1f} img/s")
        if steps:
            eta = elapsed / (batch + 1) * (steps - batch - 1)
            extra.append(f"eta {_duration(eta)}")
        if extra:
            line += " | " + ", ".join(extra)
        self._print(line)

    def on_epoch_end(self, epoch, logs=None):
        params = self.params or {}
        epochs = params.get("epochs")
        seconds = time.time() - self._epoch_start
        self._print(
            f"epoch {epoch + 1}" + (f"/{epochs}" if epochs else "")
            + f" done in {_duration(seconds)}: " + self._format_logs(logs))


def _is_number(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
