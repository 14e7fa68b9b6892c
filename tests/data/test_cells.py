"""kzoo.data.load_bccd_cells: BCCD's boxes as a 3-class crop dataset."""

import os
import warnings

import numpy as np
import pytest

import kzoo.data
from tests.conftest import datasets_root


def _root():
    root = datasets_root()
    if not os.path.isdir(os.path.join(root, "bccd", "Annotations")):
        pytest.skip(f"bccd not under {root}")
    return root


def test_crops_of_every_box_split_by_image():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the two degenerate boxes
        train = kzoo.data.load_bccd_cells("train", _root())
        test = kzoo.data.load_bccd_cells("test", _root(), size=24)
    assert train.class_names == ["Platelets", "RBC", "WBC"]
    assert train.images.shape == (3941, 32, 32, 3)
    assert test.images.shape == (945, 24, 24, 3)
    assert np.bincount(train.labels).tolist() == [292, 3348, 301]
    assert np.bincount(test.labels).tolist() == [69, 805, 71]
    # the degenerate boxes are counted, not cropped
    assert len(train.skipped) == 2 and not test.skipped
    # white cells are stained purple: bluer than red cells on average
    blue = train.images[..., 2].astype(float) - train.images[..., 0]
    assert blue[train.labels == 2].mean() > blue[train.labels == 1].mean()
    assert len(kzoo.data.load_bccd_cells("test", _root(), limit=7).images) == 7


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="split"):
        kzoo.data.load_bccd_cells("val", str(tmp_path))
    with pytest.raises(kzoo.data.DataUnavailableError, match="bccd"):
        kzoo.data.load_bccd_cells("train", str(tmp_path))
