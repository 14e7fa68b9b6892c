"""In-batch losses on the global batch under `tf.distribute`."""

import keras
from keras import ops

from kzoo import ops as kops
from kzoo._api import kzoo_export


def _has_batch_axis(x):
    return x is not None and hasattr(x, "shape") and len(x.shape) > 0


@kzoo_export("kzoo.losses.GatheringLoss", serializable=False)  # a base class
class GatheringLoss(keras.losses.Loss):
    """Base of the losses that compare the examples of a batch.

    With `gather_distributed=True` (the default), inside a replica context
    of a `tf.distribute` strategy with `N > 1` replicas, `__call__`
    gathers `y_true`, `y_pred` and `sample_weight` from every replica
    (`kzoo.ops.gather_replicas`) and computes the loss on the global batch,
    exactly as one device would; Keras' `1 / N` scaling and the summed
    gradients then give the single-device update (the gather sends each
    row's gradient back to its replica). `reduction="none"` returns this
    replica's rows. Everywhere else (one replica, eager code, the JAX and
    PyTorch backends) nothing changes.

    Subclasses set `_batch_scalar = True` when `call` returns one value
    for the whole batch (Keras does not scale those by `1 / N`, so this
    class does), `_stacked_pairs = True` when a `[2N, D]` `y_pred` holds
    two batches (first `N` rows, last `N` rows: each half is gathered),
    and override `_in_batch` when some configurations do not compare
    examples.
    """

    _batch_scalar = False
    _stacked_pairs = False

    def _in_batch(self):
        return True

    def __init__(self, gather_distributed=True, **kwargs):
        super().__init__(**kwargs)
        self.gather_distributed = bool(gather_distributed)

    def _gather_y_pred(self, y_pred):
        if isinstance(y_pred, dict):
            return {k: kops.gather_replicas(v) if _has_batch_axis(v) else v
                    for k, v in y_pred.items()}
        if self._stacked_pairs:
            n = ops.shape(y_pred)[0] // 2
            return ops.concatenate([kops.gather_replicas(y_pred[:n]),
                                    kops.gather_replicas(y_pred[n:])], 0)
        return kops.gather_replicas(y_pred)

    def _examples(self, y_pred):
        """Local examples: the rows of `reduction="none"`'s output."""
        if isinstance(y_pred, dict):
            first = next(v for v in y_pred.values() if _has_batch_axis(v))
            return ops.shape(first)[0]
        rows = ops.shape(y_pred)[0]
        return rows // 2 if self._stacked_pairs else rows

    def _local_call(self, y_true, y_pred, sample_weight=None):
        """The loss on the batch as given (one device's computation)."""
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if (not self.gather_distributed or not self._in_batch()
                or kops.replicas_in_sync() == 1):
            return self._local_call(y_true, y_pred, sample_weight)
        rows = self._examples(y_pred)
        if _has_batch_axis(y_true):
            y_true = kops.gather_replicas(ops.convert_to_tensor(y_true))
        if sample_weight is not None:
            sample_weight = kops.gather_replicas(
                ops.convert_to_tensor(sample_weight))
        out = self._local_call(y_true, self._gather_y_pred(y_pred),
                               sample_weight)
        if self.reduction in (None, "none") and len(out.shape) > 0:
            return kops.local_rows(out, rows)
        if self._batch_scalar:
            out = kops.scale_for_replicas(out)
        return out

    def get_config(self):
        config = super().get_config()
        config["gather_distributed"] = self.gather_distributed
        return config


class TemperatureLoss(GatheringLoss):
    """Private base of the softmax-temperature losses (`NTXentLoss`,
    `SupConLoss`, `ClipLoss`): stores the checked `temperature` and
    serialises it with the dtype policy (which `keras.losses.Loss`'s
    `get_config` omits)."""

    def __init__(self, temperature, reduction, name, dtype,
                 gather_distributed):
        from kzoo._checks import check_number

        super().__init__(name=name, reduction=reduction, dtype=dtype,
                         gather_distributed=gather_distributed)
        self.temperature = check_number("temperature", temperature,
                                        positive=True)

    def get_config(self):
        config = super().get_config()
        config["dtype"] = self._dtype_policy.name
        config["temperature"] = self.temperature
        return config
