"""The landmark export: any-size `uint8` images in, points in their pixels out."""

from kzoo._tensorflow import require_tensorflow_backend
from kzoo.export._writer import _any_size_images_spec
from kzoo.export._writer import _image_size
from kzoo.export._writer import _new_version_dir
from kzoo.export._writer import _write_saved_model


def export_landmark_model(model, export_dir="saved_models",
                          model_name="landmarks", version=None,
                          image_size=128, pad_value=0, write_config=True,
                          verbose=False):
    """Exports a landmark model whose `serving_default` returns input pixels.

    The signature takes `images`, `uint8` `[None, None, None, 3]` (any
    height and width, one common size per request), letterboxes them to
    `image_size` x `image_size` inside the graph
    (`kzoo.data.letterbox_keypoint_images`: aspect ratio kept, centred,
    `pad_value` padding; rounded to whole pixel values, as the `uint8`
    canvases of `kzoo.data.letterbox_keypoint_dataset`), runs `model`, and
    returns:

    - `landmarks`: `float32` `[B, K, 2]`, `(x, y)` in pixels of the *input*
      images (continuous coordinates: the image spans `[0, W] x [0, H]`,
      pixel `(i, j)` has its centre at `(j + 0.5, i + 0.5)`); the model's
      normalised points are multiplied by `image_size` and mapped back
      through the letterbox exactly (`kzoo.data.unletterbox_keypoints`),
      not clipped to the image;
    - `presence`: `float32` `[B]`, the sigmoid of the presence logit.

    The SavedModel loads with TensorFlow alone (no Keras, no kzoo).

    Args:
        model: a Keras model mapping `float32` images `[B, image_size,
            image_size, 3]` with pixel values in `[0, 255]` to the dict of
            `kzoo.layers.LandmarkHead` (`"landmarks"` normalised to the
            input, `"presence"` logits).
        export_dir: TF Serving base directory. Defaults to `"saved_models"`.
        model_name: served model name. Defaults to `"landmarks"`.
        version: integer version, `None` for the next one. Defaults to
            `None`.
        image_size: the model's square input size. Defaults to `128`.
        pad_value: letterbox padding value (the one used in training).
            Defaults to `0`.
        write_config: (re)write `<export_dir>/models.config`. Defaults to
            `True`.
        verbose: print Keras' export summary. Defaults to `False`.

    Returns:
        The version directory `<export_dir>/<model_name>/<version>`.

    Example:

    >>> kzoo.export.export_landmark_model(model, "saved_models",
    ...                                   "landmarks_faces", image_size=96)
    'saved_models/landmarks_faces/1'
    """
    require_tensorflow_backend("kzoo.export.export_landmark_model")
    import tensorflow as tf

    from kzoo.data.keypoints import letterbox_keypoint_images
    from kzoo.data.keypoints import unletterbox_keypoints

    size = _image_size(image_size)
    final = _new_version_dir(export_dir, model_name, version)

    def serve(images):
        x, scale, offset = letterbox_keypoint_images(images, size, pad_value)
        # Whole pixel values, as the uint8 canvases the model trained on.
        x = tf.clip_by_value(tf.round(x), 0.0, 255.0)
        out = model(x, training=False)
        if not isinstance(out, dict) or "landmarks" not in out:
            raise ValueError(
                "`model` must return a dict with 'landmarks' (and "
                "'presence'), as kzoo.layers.LandmarkHead does. Received: "
                f"{type(out).__name__}")
        points = tf.cast(out["landmarks"], tf.float32) * float(size)
        result = {"landmarks": unletterbox_keypoints(points, scale, offset)}
        if "presence" in out:
            logit = tf.reshape(tf.cast(out["presence"], tf.float32), [-1])
            result["presence"] = tf.sigmoid(logit)
        return result

    return _write_saved_model(
        final, export_dir,
        {"serving_default": (serve, [_any_size_images_spec()])},
        track=[model], write_config=write_config, verbose=verbose)
