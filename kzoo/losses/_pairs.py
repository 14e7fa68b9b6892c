"""The two ways a paired loss receives its two batches as `y_pred`."""

from keras import ops


def split_pair(y_pred, keys, names):
    """`(first, second)` from a dict with `keys` or a stacked `[2N, D]`.

    Args:
        y_pred: a dict holding both `keys` (other keys are the caller's),
            or one `[2N, D]` tensor whose first `N` rows are the first
            batch and last `N` rows the second.
        keys: the two dict keys, e.g. `("z1", "z2")`.
        names: how the error message calls the two halves, e.g.
            `("view 1", "view 2")`.
    """
    first, second = keys
    if isinstance(y_pred, dict):
        missing = set(keys) - set(y_pred)
        if missing:
            raise ValueError(
                f"`y_pred` must be a dict with keys {first!r}, {second!r} or "
                f"a `[2N, D]` tensor. Missing: {sorted(missing)}. Received: "
                f"y_pred keys={sorted(y_pred)}")
        return y_pred[first], y_pred[second]
    rows = y_pred.shape[0]
    if len(y_pred.shape) != 2 or (rows is not None and rows % 2):
        raise ValueError(
            f"`y_pred` must be a dict {{{first!r}, {second!r}}} or a "
            f"`[2N, D]` tensor (first N rows {names[0]}, last N rows "
            f"{names[1]}). Received: y_pred.shape={tuple(y_pred.shape)}")
    n = ops.shape(y_pred)[0] // 2
    return y_pred[:n], y_pred[n:]
