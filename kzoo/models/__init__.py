"""Backbones and task models."""

from kzoo.models.cifar_resnet import cifar_resnet_v2
from kzoo.models.cifar_resnet import resnet18_cifar
from kzoo.models.cifar_resnet import resnet20_cifar
from kzoo.models.simclr import SimCLR
from kzoo.models.simsiam import SimSiam
from kzoo.models.siamese import multi_stream_network
from kzoo.models.siamese import siamese_network
from kzoo.models.siamese import triplet_network
from kzoo.models.tiny_darknet import tiny_darknet
from kzoo.models.yolo_detector import YOLODetector
