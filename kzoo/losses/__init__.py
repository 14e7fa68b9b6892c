"""Losses for metric learning and self-supervised learning."""

from kzoo.losses.simsiam_loss import SimSiamLoss
from kzoo.losses.simsiam_loss import negative_cosine_similarity
from kzoo.losses.simsiam_loss import simsiam_loss
from kzoo.losses import mining
from kzoo.losses.active_triplet_fraction import ActiveTripletFraction
from kzoo.losses.contrastive_loss import ContrastiveLoss
from kzoo.losses.contrastive_loss import contrastive_loss
from kzoo.losses.nt_xent_loss import NTXentLoss
from kzoo.losses.nt_xent_loss import nt_xent_loss
from kzoo.losses.supcon_loss import SupConLoss
from kzoo.losses.supcon_loss import supcon_loss
from kzoo.losses.triplet_loss import TripletLoss
from kzoo.losses.triplet_loss import batch_all_triplet_loss
from kzoo.losses.triplet_loss import batch_hard_triplet_loss
from kzoo.losses.triplet_loss import semi_hard_triplet_loss
from kzoo.losses.triplet_loss import triplet_loss
from kzoo.losses.landmark_loss import LandmarkLoss
from kzoo.losses.landmark_loss import landmark_loss
from kzoo.losses.yolo_loss import YOLOLoss
from kzoo.losses.yolo_loss import yolo_loss
from kzoo.losses.yolo_loss import yolo_loss_terms
from kzoo.losses.barlow_twins_loss import BarlowTwinsLoss
from kzoo.losses.barlow_twins_loss import barlow_twins_loss
from kzoo.losses.barlow_twins_loss import standardize_over_batch
from kzoo.losses.masked_reconstruction_loss import MaskedReconstructionLoss
from kzoo.losses.masked_reconstruction_loss import masked_reconstruction_loss
