"""The detector export: any-size `uint8` images in, final boxes in their pixels out."""

from kzoo._tensorflow import require_tensorflow_backend
from kzoo.export._writer import _any_size_images_spec
from kzoo.export._writer import _image_size
from kzoo.export._writer import _new_version_dir
from kzoo.export._writer import _write_saved_model


def detection_serving_fn(detector, image_size):
    """The computation of `export_detection_model`'s `serving_default`.

    Returns a function mapping `uint8` images `[B, H, W, 3]` (any `H`, `W`)
    to the final detections in input-image pixels: letterboxed to
    `image_size` (`kzoo.data.letterbox_images`), `detector`, boxes mapped
    back (`kzoo.data.unletterbox_boxes`), padding rows zeroed. Wrap it in
    `tf.function` to run it outside an export (recipes evaluate through it,
    so their figures come from the computation they serve).

    Under another Keras backend (JAX, PyTorch; TensorFlow installed) the
    same function runs eagerly, not in `tf.function`: the letterboxing and
    the box mapping in TensorFlow, the detector on the backend
    (`predict_on_batch` for a `keras.Model`: compiled on JAX), so a
    recipe trained there is evaluated through the same steps.

    Args:
        detector: a callable mapping `float32` images `[B, image_size,
            image_size, 3]` to `kzoo.layers.NonMaxSuppression`'s dict.
        image_size: the detector's square input size.

    Returns:
        A function `images -> {"boxes", "classes", "scores",
        "num_detections"}`.
    """
    import keras
    import tensorflow as tf

    from kzoo.data.detection import letterbox_images
    from kzoo.data.detection import unletterbox_boxes

    size = int(image_size)
    on_tensorflow = keras.backend.backend() == "tensorflow"

    def run_detector(x):
        if on_tensorflow:
            return (detector(x, training=False)
                    if isinstance(detector, keras.Layer) else detector(x))
        x = x.numpy()
        out = (detector.predict_on_batch(x)
               if isinstance(detector, keras.Model) else detector(x))
        return {k: tf.convert_to_tensor(keras.ops.convert_to_numpy(v))
                for k, v in out.items()}

    def serve(images):
        height = tf.shape(images)[1]
        width = tf.shape(images)[2]
        x, scale, offset = letterbox_images(images, size)
        out = run_detector(x)
        classes = tf.cast(out["classes"], tf.int32)
        valid = classes >= 0
        boxes = unletterbox_boxes(tf.cast(out["boxes"], tf.float32), scale,
                                  offset, height, width)
        boxes = tf.where(valid[..., None], boxes, tf.zeros_like(boxes))
        scores = tf.where(valid, tf.cast(out["scores"], tf.float32), 0.0)
        return {"boxes": boxes, "classes": classes, "scores": scores,
                "num_detections": tf.cast(out["num_detections"], tf.int32)}

    return serve


def export_detection_model(detector, export_dir="saved_models",
                           model_name="detector", version=None,
                           image_size=320, class_names=None,
                           write_config=True, verbose=False):
    """Exports a detector whose `serving_default` returns final detections.

    The signature takes `images`, `uint8` `[None, None, None, 3]` (any
    height and width, one common size per request), letterboxes them to
    `image_size` x `image_size` inside the graph (`kzoo.data.letterbox_images`:
    aspect ratio kept, grey padding), runs `detector`, and maps the boxes
    back to the pixels of the *input* images
    (`kzoo.data.unletterbox_boxes`). It returns, padded to the detector's
    `max_detections` K and sorted by descending score:

    - `boxes`: `float32` `[B, K, 4]`, `(x_min, y_min, x_max, y_max)` in
      input-image pixels, clipped to the image; padding rows are 0;
    - `classes`: `int32` `[B, K]`, class indices, -1 on padding rows;
    - `scores`: `float32` `[B, K]`, 0 on padding rows;
    - `num_detections`: `int32` `[B]`, the number of real rows.

    A second signature, `class_names`, takes no input and returns the
    `string` `[C]` class names, so a client can label the indices. A TF
    Serving client needs no Python post-processing; the SavedModel loads
    with TensorFlow alone.

    Args:
        detector: a callable (e.g. `kzoo.models.YOLODetector`'s inference
            model) mapping `float32` images `[B, image_size, image_size, 3]`
            with pixel values in `[0, 255]` to the dict of
            `kzoo.layers.NonMaxSuppression` with `xyxy` pixel boxes.
        export_dir: TF Serving base directory. Defaults to `"saved_models"`.
        model_name: served model name. Defaults to `"detector"`.
        version: integer version, `None` for the next one. Defaults to
            `None`.
        image_size: the detector's square input size. Defaults to `320`.
        class_names: names of the classes, in index order; `None` serves
            `"0"`, `"1"`, ... only if `detector` has a `num_classes`
            attribute. Defaults to `None`.
        write_config: (re)write `<export_dir>/models.config`. Defaults to
            `True`.
        verbose: print Keras' export summary. Defaults to `False`.

    Returns:
        The version directory `<export_dir>/<model_name>/<version>`.

    Example:

    >>> kzoo.export.export_detection_model(
    ...     detector.inference_model(), "saved_models", "yolo_bccd",
    ...     image_size=320, class_names=["Platelets", "RBC", "WBC"])
    'saved_models/yolo_bccd/1'
    """
    require_tensorflow_backend("kzoo.export.export_detection_model")
    import keras
    import tensorflow as tf

    size = _image_size(image_size)
    if class_names is None:
        num_classes = getattr(detector, "num_classes", None)
        if num_classes is None:
            raise ValueError(
                "Pass `class_names` (the detector has no `num_classes` "
                f"attribute). Received: class_names={class_names!r}")
        class_names = [str(i) for i in range(num_classes)]
    class_names = [str(c) for c in class_names]
    final = _new_version_dir(export_dir, model_name, version)
    serve = detection_serving_fn(detector, size)

    names = tf.constant(class_names, dtype=tf.string)

    def serve_class_names():
        return {"class_names": tf.identity(names)}

    return _write_saved_model(
        final, export_dir,
        {"serving_default": (serve, [_any_size_images_spec()]),
         "class_names": (serve_class_names, [])},
        track=[detector] if isinstance(detector, keras.Layer) else [],
        write_config=write_config, verbose=verbose)
