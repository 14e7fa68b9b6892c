"""A tensorflow-addons drop-in for its metric-learning losses (Keras 3).

tensorflow-addons 0.23 does not import under TensorFlow 2.21 / Keras 3.
Replace

```python
import tensorflow_addons as tfa
```

with

```python
from kzoo import addons as tfa
```

and `tfa.losses.TripletSemiHardLoss()` & co. work unchanged.

Covered (`kzoo.addons.losses`, also importable as `import
kzoo.addons.losses`), with tensorflow-addons 0.23's names, arguments,
defaults and values:

- `TripletSemiHardLoss` / `triplet_semihard_loss` and `TripletHardLoss` /
  `triplet_hard_loss` (with `soft`), `distance_metric` `"L2"` (Euclidean,
  not squared; the default), `"squared-L2"`, `"angular"` or a callable;
- `ContrastiveLoss` / `contrastive_loss` (`y_true = 1` means *similar*);
- `LiftedStructLoss` / `lifted_struct_loss`;
- `NpairsLoss` / `npairs_loss` and `NpairsMultilabelLoss` /
  `npairs_multilabel_loss`;
- `losses.metric_learning.pairwise_distance` / `angular_distance`.

Differences from tensorflow-addons:

- Degenerate batches give 0 (with finite gradients) where tfa gave NaN:
  no positive pair (0 / 0) for the semi-hard triplet and lifted losses, a
  one-class batch for the lifted loss, an empty batch, a label-less sample
  in the multi-label N-pairs loss. Every other value is tfa's, including
  tfa's fallbacks (e.g. a one-class batch in `triplet_semihard_loss` gives
  `margin + mean positive distance`, as in tfa).
- The classes are Keras 3 `keras.losses.Loss` subclasses (not tfa's
  `LossFunctionWrapper`): the scalar losses return an unreduced scalar, as
  tfa's `reduction="none"` did; `reduction="auto"` is accepted; they take
  an extra `dtype` argument; unknown keyword arguments raise instead of
  being silently ignored.
- Result dtype: tfa's. Functions and classes return the float dtype of
  `y_pred` (`embeddings` for `lifted_struct_loss`): float16 in, float16
  out, bfloat16 in, bfloat16 out (tfa's classes under tf.keras 2 did not
  cast their inputs). A class's `dtype=None` (the default) keeps that;
  Keras 3's own convention, where `Loss.__call__` casts `y_pred` to the
  loss's dtype and returns that dtype (float32 for float16 inputs), is
  what an explicit `dtype` gives (`dtype="float32"`, or a
  `keras.DTypePolicy`). Internal precision: float16 / bfloat16 inputs are
  computed in float32 everywhere (tfa did that for the triplet and lifted
  losses but computed `contrastive_loss` and the N-pairs losses in the
  input dtype: kzoo's values are tfa's up to that dtype's rounding); the
  triplet and lifted losses compute float64 inputs in float32 too (tfa:
  float64), and a class with `dtype=None` computes in
  `keras.backend.floatx()` (float32) before casting the result back.
  (In `model.fit`, a float16 model output thus gives a float16 loss value,
  which Keras' compiled loss casts to float32.)
- Small robustness fixes that leave tfa's values unchanged wherever tfa's
  were finite and well-shaped: the soft triplet margin is a stable softplus
  (tfa's `log1p(exp(x))` overflows to inf for large gaps); the lifted loss
  never exponentiates non-negative pairs; `contrastive_loss` aligns `[B]`
  with `[B, 1]` instead of broadcasting to `[B, B]`; `npairs_loss` accepts
  `[B, 1]` labels; integer labels stay exact in the classes (Keras 3 would
  otherwise cast them to float32, merging ids above 2**24);
  `metric_learning.pairwise_distance` accepts float16 / bfloat16 features
  (tfa's raised a dtype error).
- Wrong shapes raise a `ValueError` that names the expected shape and
  ends with the received one (`... Received: y_pred.shape=(8, 16)`),
  where tfa failed inside TensorFlow or broadcast silently: `[B, D]`
  embeddings given to `contrastive_loss` (which takes `[B]` distances;
  with `B == D` tfa broadcast them silently), `[B, 2]` labels or `[B]`
  embeddings for the triplet and lifted losses, labels and embeddings of
  different batch sizes, non-square N-pairs logits, `[B]` labels for
  `npairs_multilabel_loss`.
- Keras' JAX and PyTorch backends work too (`KERAS_BACKEND=jax` /
  `torch`), except `tf.SparseTensor` labels and the global-batch gather
  under `tf.distribute`, which are TensorFlow features.
- Registered as `"kzoo.addons>Name"`; tensorflow-addons' `"Addons>Name"`
  keys are aliased, so loss configs saved with tensorflow-addons load. (Keras
  3's `compile` does not accept custom losses as strings: pass the object.)
- Other tfa modules (layers, optimizers, image, ...) and the other tfa
  losses (focal, GIoU, pinball, sparsemax, kappa) are not provided.
"""

from kzoo.addons import losses

__all__ = ["losses"]


def __getattr__(name):
    raise AttributeError(
        f"kzoo.addons provides only `losses` (tensorflow-addons' "
        f"metric-learning losses), not tfa.{name}"
    )
