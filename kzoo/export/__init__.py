"""Exporting models for TF Serving.

Layout (what `tensorflow_model_server --model_config_file` expects):

    <export_dir>/models.config
    <export_dir>/<model_name>/<version>/saved_model.pb
    <export_dir>/<model_name>/<version>/variables/

The exported `serving_default` signature takes raw `uint8` images, so a
TF Serving client sends pixels and needs no Python pre- or post-processing;
the SavedModel loads with TensorFlow alone (no Keras, no kzoo).

Command line: a model trained under another Keras backend (JAX, PyTorch;
the recipes save it as `RUN_DIR/backbone.keras`) is exported on a machine
with TensorFlow by

    KERAS_BACKEND=tensorflow python -m kzoo.export embedding \\
        RUN_DIR/backbone.keras --export-dir saved_models --model-name NAME

and any other kind (detector, landmarks, audio or text embeddings, fill
the blanks) from the spec the run wrote beside its `.keras` file:

    KERAS_BACKEND=tensorflow python -m kzoo.export spec \\
        RUN_DIR/MODEL_NAME.export.json

(`main`; `python -m kzoo.export embedding --help` / `spec --help` list the
options).

The package: `_writer` (the one SavedModel writer, versions,
`models.config`), `embeddings` (image, audio and text embeddings; fill the
blanks), `detection`, `landmarks` and `cli` (`python -m kzoo.export`).
"""

from kzoo._tensorflow import require_tensorflow

require_tensorflow("kzoo.export")

from kzoo.export._writer import (  # noqa: E402
    load_serving_fn,
    rest_request_example,
    write_models_config,
)
from kzoo.export.cli import main  # noqa: E402
from kzoo.export.detection import (  # noqa: E402
    detection_serving_fn,
    export_detection_model,
)
from kzoo.export.embeddings import (  # noqa: E402
    export_audio_embedding_model,
    export_embedding_model,
    export_fill_blanks_model,
    export_text_embedding_model,
)
from kzoo.export.landmarks import export_landmark_model  # noqa: E402

__all__ = [
    "detection_serving_fn",
    "export_audio_embedding_model",
    "export_detection_model",
    "export_embedding_model",
    "export_fill_blanks_model",
    "export_landmark_model",
    "export_text_embedding_model",
    "load_serving_fn",
    "main",
    "rest_request_example",
    "write_models_config",
]
