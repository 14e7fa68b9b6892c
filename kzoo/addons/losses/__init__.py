"""tensorflow-addons' metric-learning losses (`tfa.losses`) for Keras 3.

Same names, arguments, defaults and values as tensorflow-addons 0.23; see
`kzoo.addons` for the migration notes.
"""

import keras

from kzoo.addons.losses import metric_learning
from kzoo.addons.losses.contrastive import ContrastiveLoss
from kzoo.addons.losses.contrastive import contrastive_loss
from kzoo.addons.losses.lifted import LiftedStructLoss
from kzoo.addons.losses.lifted import lifted_struct_loss
from kzoo.addons.losses.npairs import NpairsLoss
from kzoo.addons.losses.npairs import NpairsMultilabelLoss
from kzoo.addons.losses.npairs import npairs_loss
from kzoo.addons.losses.npairs import npairs_multilabel_loss
from kzoo.addons.losses.triplet import TripletHardLoss
from kzoo.addons.losses.triplet import TripletSemiHardLoss
from kzoo.addons.losses.triplet import triplet_hard_loss
from kzoo.addons.losses.triplet import triplet_semihard_loss

__all__ = [
    "ContrastiveLoss",
    "LiftedStructLoss",
    "NpairsLoss",
    "NpairsMultilabelLoss",
    "TripletHardLoss",
    "TripletSemiHardLoss",
    "contrastive_loss",
    "lifted_struct_loss",
    "metric_learning",
    "npairs_loss",
    "npairs_multilabel_loss",
    "triplet_hard_loss",
    "triplet_semihard_loss",
]

# tensorflow-addons registered these as "Addons>Name": alias those keys so
# configs saved with tensorflow-addons (`{"class_name":
# "Addons>TripletSemiHardLoss", ...}`) deserialise to the kzoo versions.
# New saves use the "kzoo.addons>Name" keys.
_custom_objects = keras.saving.get_custom_objects()
for _name in __all__:
    if _name != "metric_learning":
        _custom_objects.setdefault("Addons>" + _name, globals()[_name])
del _custom_objects, _name

# tfa.losses members kzoo.addons does not provide.
_NOT_PROVIDED = frozenset({
    "GIoULoss", "giou_loss", "PinballLoss", "pinball_loss",
    "SigmoidFocalCrossEntropy", "sigmoid_focal_crossentropy",
    "SparsemaxLoss", "sparsemax_loss", "WeightedKappaLoss",
})


def __getattr__(name):
    if name in _NOT_PROVIDED:
        raise AttributeError(
            f"kzoo.addons.losses does not provide tfa.losses.{name}: only the "
            f"metric-learning losses are covered ({', '.join(__all__)})."
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
