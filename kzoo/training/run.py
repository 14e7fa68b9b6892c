"""The output directory of one recipe run (`Run`) and its figures.

`Run` writes `args.json`, gives `fit` its callbacks (backup, CSV and
TensorBoard logs, checkpoints, progress lines), saves and exports the
trained models and writes `metrics.json`.
"""

import csv
import importlib.metadata
import json
import os
import platform
import shlex
import sys
import time

from kzoo._machine import cpu_description
from kzoo.training.backend import keras_backend
from kzoo.training.backend import on_tensorflow

FAULT_ENV = "KZOO_FAULT_EXIT_AFTER_EPOCH"


class Run:
    """The output directory of one recipe run.

    Args:
        args: the parsed `argparse.Namespace`.
        strategy: the `tf.distribute.Strategy` in use (off the TensorFlow
            backend, `backend_strategy`'s stand-in).
    """

    def __init__(self, args, strategy):
        self.args = args
        self.strategy = strategy
        if on_tensorflow():
            from kzoo import distribute

            self.chief = distribute.is_chief(strategy)
            # Non-chief workers write to their own scratch directory: Keras'
            # ModelCheckpoint / BackupAndRestore would race on shared files.
            self.output_dir = distribute.worker_scoped_dir(args.output_dir,
                                                           strategy)
        else:
            # One process (kzoo runs no multi-host JAX / PyTorch training).
            self.chief = True
            self.output_dir = args.output_dir
        os.makedirs(self.output_dir, exist_ok=True)
        self.start_time = time.time()
        self.write_json("args.json", self._describe())

    def path(self, *parts):
        return os.path.join(self.output_dir, *parts)

    def _describe(self):
        import keras

        if on_tensorflow():
            import tensorflow as tf

            versions = {"tensorflow": tf.__version__}
        else:
            # Installed versions, read without importing TensorFlow.
            versions = {name: _installed_version(name)
                        for name in ("tensorflow", keras_backend())}
            versions["devices"] = list(self.strategy.devices)
        return {
            "args": vars(self.args),
            "command": shlex.join([os.path.basename(sys.argv[0])]
                                  + sys.argv[1:]),
            "strategy": type(self.strategy).__name__,
            "replicas": self.strategy.num_replicas_in_sync,
            "backend": keras_backend(),
            **versions,
            "keras": keras.__version__,
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
            "cpu": cpu_description(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    def write_json(self, name, data):
        path = self.path(name)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True, default=str)
            f.write("\n")
        os.replace(tmp, path)
        return path

    @property
    def verbose(self):
        """`fit`'s `verbose`: the progress bar on a terminal, else 0.

        Off a terminal (a log file, CI) `callbacks()` adds a
        `kzoo.eval.ProgressLogger` printing a line every `--log-every`
        steps instead of the bar's carriage-return redraws.
        """
        return 1 if _is_terminal() else 0

    def initial_epoch(self, stage=None):
        """The epoch `fit` will start at: the number of epochs the backup
        of `stage` (`backup/<stage>/`, written by the `BackupAndRestore`
        of `callbacks`) records as done, else `0`.

        Samplers built with `epochs=` and this `initial_epoch` then hold
        exactly the batches an uninterrupted run trains on from that
        epoch (`kzoo.data.two_view_dataset`); `BackupAndRestore` restores
        the weights and makes `fit` start at the same epoch.
        """
        sub = (stage,) if stage else ()
        path = self.path("backup", *sub, "training_metadata.json")
        try:
            with open(path) as f:
                return int(json.load(f)["epoch"])
        except FileNotFoundError:
            return 0

    def callbacks(self, monitors=(), stage=None):
        """BackupAndRestore, the monitors, history CSV, TensorBoard, checkpoints.

        Off the TensorFlow backend TensorBoard is left out (Keras' callback
        writes with `tf.summary`) and a note says so; the others need no
        TensorFlow.

        Order matters: monitors (e.g. `kzoo.eval.KNNMonitor`) write into the
        epoch logs before the history CSV and TensorBoard read them (and before
        the progress line, added last when the output is not a terminal:
        pass `verbose=run.verbose` to `fit`). A recipe that
        calls `fit` more than once names each `stage`: its files go to
        `history_<stage>.csv`, `logs/<stage>/`, `checkpoints/<stage>/` and
        `backup/<stage>/`, so the stages never share a backup or a log.
        """
        import keras

        tag = f"_{stage}" if stage else ""
        sub = (stage,) if stage else ()
        # Created here, tolerantly (exist_ok): under
        # MultiWorkerMirroredStrategy the workers create their directories
        # at the same moment, the others' inside the chief's run directory
        # (`worker_scoped_dir`).
        os.makedirs(self.path("backup", *sub), exist_ok=True)
        if on_tensorflow():
            tensorboard = [keras.callbacks.TensorBoard(self.path("logs", *sub))]
        else:
            tensorboard = []
            print(f"note: no TensorBoard logs under the {keras_backend()} "
                  "backend (keras.callbacks.TensorBoard writes with "
                  "TensorFlow); the epoch figures are in "
                  f"history{tag}.csv and metrics.json")
        callbacks = [
            keras.callbacks.BackupAndRestore(self.path("backup", *sub)),
            *monitors,
            history_csv(self.path(f"history{tag}.csv")),
            *tensorboard,
            keras.callbacks.ModelCheckpoint(
                self.path("checkpoints", *sub, "epoch_{epoch:03d}.weights.h5"),
                save_weights_only=True,
            ),
        ]
        if not _is_terminal():
            from kzoo.eval.progress import ProgressLogger

            callbacks.append(ProgressLogger(
                getattr(self.args, "log_every", 50),
                batch_size=getattr(self.args, "batch_size", None)))
        if os.environ.get(FAULT_ENV):
            callbacks.append(_ExitAfterEpoch(int(os.environ[FAULT_ENV])))
        return callbacks

    def export_embeddings(self, model, image_shape, metrics):
        """Exports `model` as the run's embedding SavedModel (chief only).

        Does nothing when `--export-dir ''`. Writes
        `EXPORT_DIR/MODEL_NAME/<version>/` with `kzoo.export`'s uint8
        `images` -> L2-normalised `embeddings` signature, records its path
        in `metrics["saved_model"]` and prints a REST request example.

        On every backend (chief only) it saves `model` as
        `OUTPUT_DIR/backbone.keras` (recorded in `metrics["backbone"]`),
        what `python -m kzoo.presets build` makes a preset of. Off the
        TensorFlow backend (SavedModels are TensorFlow's) that file is the
        export: unless `--export-dir ''`, the command that exports it on a
        machine with TensorFlow (`python -m kzoo.export embedding`) is
        printed and recorded in `metrics["export_command"]`.

        Under `--mixed-precision bfloat16` both are float32 copies
        (`kzoo.models.float32_copy`).
        """
        # Exports compute in float32 whatever --mixed-precision trained.
        model = _float32(model)
        if not on_tensorflow():
            return self._save_backbone(model, metrics)
        if not self.chief:
            return None
        model.save(self.path("backbone.keras"))
        metrics["backbone"] = self.path("backbone.keras")
        if not self.args.export_dir:
            return None
        from kzoo import export

        version_dir = export.export_embedding_model(
            model, self.args.export_dir, self.args.model_name,
            image_shape=image_shape)
        metrics["saved_model"] = version_dir
        print(f"SavedModel: {version_dir}")
        print(export.rest_request_example(self.args.model_name, image_shape))
        return version_dir

    def export_model(self, kind, model, metrics, model_name=None,
                     key="saved_model", **options):
        """Exports `model` with `kzoo.export`'s writer of `kind` (chief only).

        Under the TensorFlow backend: `kzoo.export.<writer>(model,
        EXPORT_DIR, model_name, **options)` (`kind` -> writer:
        `kzoo._export_spec.KINDS`, e.g. `"detection"` ->
        `export_detection_model`); the version directory goes to
        `metrics[key]` and is returned. Nothing happens with
        `--export-dir ''`.

        On every backend (chief only) it saves `model` as
        `OUTPUT_DIR/MODEL_NAME.keras` (even with `--export-dir ''`; recorded
        in `metrics["keras_models"][model_name]`) and writes
        `OUTPUT_DIR/MODEL_NAME.export.json`, the spec (`kind`, options):
        what `python -m kzoo.presets build` makes a preset of. Off the
        TensorFlow backend (SavedModels are TensorFlow's) that is the
        export: unless `--export-dir ''`,
        `KERAS_BACKEND=tensorflow python -m kzoo.export spec FILE` replays
        it on a machine with TensorFlow; the command is printed and
        recorded in `metrics["export_commands"][model_name]`, and `None`
        is returned. Under `--mixed-precision bfloat16` the saved and
        exported models are float32 copies (`kzoo.models.float32_copy`).

        Args:
            kind: `"embedding"`, `"audio_embedding"`, `"text_embedding"`,
                `"fill_blanks"`, `"detection"` or `"landmarks"`.
            model: the model the writer takes.
            metrics: the run's metrics dict (updated).
            model_name: served model name. Defaults to `None`
                (`--model-name`).
            key: the metrics key of the version directory. Defaults to
                `"saved_model"`.
            **options: the writer's other keyword arguments
                (JSON-serialisable: they go into the spec).
        """
        from kzoo import _export_spec

        if kind not in _export_spec.KINDS:
            raise ValueError(f"`kind` must be one of "
                             f"{sorted(_export_spec.KINDS)}. Received: "
                             f"kind={kind!r}")
        model_name = model_name or self.args.model_name
        if not self.chief:
            return None
        model = _float32(model)
        try:
            json.dumps(options)
        except TypeError as e:
            raise ValueError(f"export options must be JSON-serialisable "
                             f"(they go into the spec): {e}. Received: "
                             f"options={options!r}") from None
        path = self.path(f"{model_name}.keras")
        model.save(path)
        metrics.setdefault("keras_models", {})[model_name] = path
        spec = _export_spec.write_spec(
            self.output_dir, kind, path, model_name,
            self.args.export_dir or "saved_models", options)
        if on_tensorflow():
            if not self.args.export_dir:
                return None
            from kzoo import export

            writer = getattr(export, _export_spec.KINDS[kind])
            version_dir = writer(model, export_dir=self.args.export_dir,
                                 model_name=model_name, **options)
            metrics[key] = version_dir
            return version_dir
        print(f"{kind} model saved: {path}")
        if self.args.export_dir:
            command = ("KERAS_BACKEND=tensorflow python -m kzoo.export spec "
                       + shlex.quote(spec))
            metrics.setdefault("export_commands", {})[model_name] = command
            print("export it for TF Serving on a machine with TensorFlow:\n"
                  f"  {command}")
        return None

    def save_keras(self, model, name, metrics):
        """Saves a float32 copy of `model` as `OUTPUT_DIR/NAME.keras`
        (chief only), recorded in `metrics["keras_models"][name]`: a
        model the run has no SavedModel writer for (e.g. SupCon's
        classifier), for `python -m kzoo.presets build`."""
        if not self.chief:
            return None
        path = self.path(f"{name}.keras")
        _float32(model).save(path)
        metrics.setdefault("keras_models", {})[name] = path
        return path

    def _save_backbone(self, model, metrics):
        if not self.chief:
            return None
        path = self.path("backbone.keras")
        model.save(path)
        metrics["backbone"] = path
        print(f"backbone saved: {path}")
        if self.args.export_dir:
            command = export_command(path, self.args.export_dir,
                                     self.args.model_name)
            metrics["export_command"] = command
            print("export it for TF Serving on a machine with TensorFlow:\n"
                  f"  {command}")
        return None

    def finish(self, metrics):
        """Writes `metrics.json` (adding the wall time) and prints it."""
        metrics = dict(metrics)
        metrics["wall_time_seconds"] = round(time.time() - self.start_time, 1)
        path = self.write_json("metrics.json", metrics)
        print(json.dumps(metrics, indent=2, sort_keys=True))
        print(f"metrics written to {path}")
        return metrics


def _float32(model):
    """`kzoo.models.float32_copy(model)`: exports compute in float32."""
    from kzoo.models.precision import float32_copy

    return float32_copy(model)


def export_command(path, export_dir, model_name):
    """The shell command exporting a saved `.keras` embedding model.

    `kzoo.export`'s command line, under the TensorFlow backend:
    `KERAS_BACKEND=tensorflow python -m kzoo.export embedding PATH
    --export-dir EXPORT_DIR --model-name MODEL_NAME`.
    """
    return ("KERAS_BACKEND=tensorflow python -m kzoo.export embedding "
            f"{shlex.quote(path)} --export-dir {shlex.quote(export_dir)} "
            f"--model-name {shlex.quote(model_name)}")


def _installed_version(name):
    """The installed version of the distribution `name`, or `None`."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _is_terminal():
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


class _ExitAfterEpoch:
    """Fault injection for tests: hard-exits the process after epoch N.

    Enabled only by the `KZOO_FAULT_EXIT_AFTER_EPOCH=N` environment
    variable. `os._exit` skips every cleanup, like a killed process; it runs
    after BackupAndRestore and the checkpoint of that epoch were written.
    """

    def __new__(cls, epoch):
        import keras

        class ExitAfterEpoch(keras.callbacks.Callback):
            def on_epoch_end(self, e, logs=None):
                if e + 1 >= epoch:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(75)

        return ExitAfterEpoch()


def fit_summary(history, fit_seconds, steps_per_epoch, args, strategy):
    """Loss, epochs, time and throughput of one `model.fit`, for metrics.json.

    `epochs_run_in_this_process` differs from `epochs` when a killed run
    resumed from its backup.
    """
    epochs_run = len(history.history.get("loss", []))
    return {
        "final_loss": (history.history["loss"][-1] if epochs_run else None),
        "epochs": args.epochs,
        "epochs_run_in_this_process": epochs_run,
        "fit_seconds": round(fit_seconds, 1),
        "train_images_per_second": (
            round(epochs_run * steps_per_epoch * args.batch_size / fit_seconds,
                  1) if epochs_run else None),
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "batch_size": args.batch_size,
    }


def print_metrics(label, metrics):
    """Prints `label: name value, ...` with 4 decimals (one line per call)."""
    parts = [f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
             for k, v in metrics.items()]
    print(f"{label}: " + ", ".join(parts))


def history_csv(path):
    """A `history.csv` writer that keeps its columns aligned.

    Keras' `CSVLogger` fixes its columns at the first epoch it sees, so a
    metric logged every N epochs (`kzoo.eval.KNNMonitor`, a mAP or
    retrieval monitor) is dropped when it is missing from the first
    epoch, and a run resumed from its backup appends rows with more
    fields than the header (`append=True` does not rewrite it). This one
    rewrites the file after every epoch with the union of the columns seen
    (`epoch` first, the others sorted; `NA` where an epoch has no value),
    keeping the rows of earlier processes of the same run. Epochs logged
    again (a resumed run) replace their earlier rows.
    """
    import keras

    class _HistoryCSV(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            rows = []
            if os.path.isfile(path):
                with open(path, newline="") as f:
                    rows = [r for r in csv.DictReader(f)
                            if r.get("epoch") not in (None, "", str(epoch))]
            row = {"epoch": str(epoch)}
            for key, value in (logs or {}).items():
                try:
                    row[key] = str(float(value))
                except (TypeError, ValueError):
                    row[key] = str(value)
            rows.append(row)
            rows.sort(key=lambda r: int(r["epoch"]))
            keys = sorted({k for r in rows for k in r if k and k != "epoch"})
            tmp = path + ".tmp"
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, ["epoch"] + keys, restval="NA",
                                        extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)
            os.replace(tmp, path)

    return _HistoryCSV()
