"""Face crops with identities (kzoo.data.faces)."""

import os

import numpy as np
import pytest

import kzoo.data
from kzoo.data.faces import video_of


def test_video_and_person_of_a_file_name():
    assert video_of("Luis_Fonsi_21.jpg") == "Luis_Fonsi_2"
    assert kzoo.data.person_of("Luis_Fonsi_21.jpg") == "Luis_Fonsi"
    assert video_of("dir/Abdullah_Gul_12.jpg") == "Abdullah_Gul_1"
    assert video_of("odd.jpg") == "odd"


def test_crop_faces_centres_the_keypoints_box():
    image = np.zeros((40, 60, 3), np.uint8)
    image[10:20, 30:40] = 255  # a white square: the "face"
    points = np.array([[[30, 10], [39.999, 19.999]]], np.float32)
    crop = kzoo.data.crop_faces([image], points, size=10, margin=0.0)
    assert crop.shape == (1, 10, 10, 3) and crop.dtype == np.uint8
    assert crop[0, 2:8, 2:8].min() > 200  # the box fills the crop
    # with a margin of 1 the box is the central half, black around it
    crop = kzoo.data.crop_faces([image], points, size=20, margin=1.0)
    assert crop[0, 7:13, 7:13].min() > 200
    assert crop[0, :3].max() < 30 and crop[0, :, -3:].max() < 30
    # a box at the border: the outside is black, no error
    edge = np.array([[[0, 0], [5, 5]]], np.float32)
    out = kzoo.data.crop_faces([image], edge, size=8, margin=1.0)
    assert out[0, 0, 0].max() == 0
    # a hidden keypoint does not move the box
    three = np.array([[[30, 10], [40, 20], [0, 0]]], np.float32)
    hidden = kzoo.data.crop_faces([image], three, np.array([[1, 1, 0]]),
                                  size=10, margin=0.0)
    np.testing.assert_array_equal(
        hidden, kzoo.data.crop_faces([image], three[:, :2], size=10,
                                     margin=0.0))


def test_crop_faces_errors():
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="size"):
        kzoo.data.crop_faces([image], np.zeros((1, 2, 2)), size=0)
    with pytest.raises(ValueError, match="keypoints"):
        kzoo.data.crop_faces([image], np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="visible keypoints"):
        kzoo.data.crop_faces([image], np.zeros((1, 2, 2)), np.zeros((1, 2)))


def _data_dir():
    root = os.environ.get("KZOO_DATA_DIR", "")
    if not os.path.isfile(os.path.join(root, "facial_keypoints",
                                       "training_keypoints.csv")):
        pytest.skip("facial_keypoints not under KZOO_DATA_DIR")
    return root


def test_load_face_identities_on_the_real_data():
    faces = kzoo.data.load_face_identities(_data_dir(), size=32)
    assert faces.images.shape == (3462, 32, 32, 3)
    assert len(faces.names) == 347
    assert faces.people.max() == 346
    # 3 frames per video, 3 or 4 videos per person, a video of one person
    _, per_video = np.unique(faces.videos, return_counts=True)
    assert set(per_video.tolist()) == {3}
    for v in np.unique(faces.videos)[:50]:
        assert len(set(faces.people[faces.videos == v].tolist())) == 1
    name = faces.file_names[0]
    assert faces.names[faces.people[0]] == kzoo.data.person_of(name)
    # a face crop is not a black square
    assert faces.images.reshape(len(faces.images), -1).std(1).min() > 5
    some = faces.names[:3]
    sub = kzoo.data.select_faces(faces, some)
    assert sub.names == some and set(sub.people.tolist()) == {0, 1, 2}
    assert len(sub.images) == sum(faces.people < 3)
