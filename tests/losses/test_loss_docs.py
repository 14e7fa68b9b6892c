"""Every kzoo loss documents each of its constructor's arguments; the
shared ones (reduction, name, dtype, gather_distributed) are written once
(`kzoo.losses._docs`) with the `name` default read from the signature."""
import inspect

import keras
import pytest

import kzoo
from kzoo.losses._docs import shared_loss_args

LOSSES = sorted(
    (obj for obj in vars(kzoo.losses).values()
     if inspect.isclass(obj) and issubclass(obj, keras.losses.Loss)
     and obj is not kzoo.losses.GatheringLoss),
    key=lambda cls: cls.__name__)


def test_there_are_losses_to_check():
    assert len(LOSSES) >= 10


@pytest.mark.parametrize("cls", LOSSES, ids=lambda cls: cls.__name__)
def test_every_argument_is_documented(cls):
    doc = cls.__doc__
    assert "{loss_args}" not in doc
    parameters = inspect.signature(cls.__init__).parameters
    for name, parameter in parameters.items():
        if name == "self" or parameter.kind is parameter.VAR_KEYWORD:
            continue
        assert f"\n        {name}: " in doc, (cls.__name__, name)
    default = parameters["name"].default
    assert f'Defaults to\n            `"{default}"`.' in doc


def test_shared_loss_args_needs_its_placeholder():
    class Undocumented(keras.losses.Loss):
        """No Args."""

    with pytest.raises(ValueError, match="loss_args"):
        shared_loss_args(Undocumented)
