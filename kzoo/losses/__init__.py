"""Losses for metric learning and self-supervised learning."""

from kzoo.losses.simsiam_loss import SimSiamLoss
from kzoo.losses.simsiam_loss import negative_cosine_similarity
from kzoo.losses.simsiam_loss import simsiam_loss
