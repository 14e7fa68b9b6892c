import numpy as np
import pytest
from PIL import Image

from kzoo import visualize


def _image(h=40, w=60):
    return np.zeros((h, w, 3), np.uint8)


def test_draw_detections_draws_on_box_edges_only():
    det = {"boxes": [[10, 5, 30, 25], [0, 0, 0, 0]], "classes": [1, -1],
           "scores": [0.9, 0.0]}
    out = np.asarray(visualize.draw_detections(_image(), det, line_width=1))
    color = visualize.PALETTE[1]
    assert tuple(out[5, 20]) == color  # top edge
    assert tuple(out[15, 10]) == color  # left edge
    assert tuple(out[15, 20]) == (0, 0, 0)  # interior untouched
    # The padding row (class -1) is not drawn: nothing at the origin.
    assert tuple(out[0, 0]) == (0, 0, 0)


def test_true_boxes_are_white_and_input_is_not_modified():
    image = _image()
    gt = {"boxes": np.array([[2.0, 2.0, 20.0, 20.0]]), "classes": np.array([0])}
    out = np.asarray(visualize.draw_detections(image, ground_truth=gt))
    assert tuple(out[2, 10]) == visualize.TRUE_COLOR
    assert image.max() == 0


def test_save_detection_grid_tiles_images(tmp_path):
    images = [_image(), _image(), _image(30, 50)]
    dets = [{"boxes": [[1, 1, 9, 9]], "classes": [0], "scores": [0.5]}] * 3
    path = visualize.save_detection_grid(str(tmp_path / "g.png"), images, dets,
                                         columns=2, class_names=["a"])
    grid = Image.open(path)
    assert grid.size == (2 * 60, 2 * 40)


def test_mismatched_lengths_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="one entry per image"):
        visualize.save_detection_grid(str(tmp_path / "g.png"), [_image()],
                                      detections=[])
    with pytest.raises(ValueError, match="classes"):
        visualize.draw_detections(_image(), {"boxes": [[0, 0, 1, 1]],
                                             "classes": [0, 1]})


def test_save_image_grid_places_each_image(tmp_path):
    from PIL import Image

    from kzoo.visualize import save_image_grid

    a = np.zeros((2, 4, 4, 3), np.uint8)
    a[1] = 255
    b = np.full((3, 4, 4, 1), 0.5, np.float32)
    path = save_image_grid(str(tmp_path / "g.png"), [a, b], scale=2,
                           padding=1)
    grid = np.asarray(Image.open(path))
    # 3 columns of 8 px + 4 px padding, 2 rows of 8 px + 3 px padding.
    assert grid.shape == (19, 28, 3)
    assert (grid[1:9, 1:9] == 0).all()          # row 0, image 0: black
    assert (grid[1:9, 10:18] == 255).all()      # row 0, image 1: white
    assert (grid[10:18, 19:27] == 128).all()    # row 1, image 2: grey 0.5
    assert (grid[1:9, 19:27] == 255).all()      # missing image: background
    with pytest.raises(ValueError, match="Each row"):
        save_image_grid(str(tmp_path / "x.png"), [np.zeros((4, 4, 3))])


def test_save_pair_grid_frames_right_and_wrong_decisions(tmp_path):
    from PIL import Image

    first = np.full((3, 4, 4, 3), 50, np.uint8)
    second = np.full((3, 4, 4, 3), 200, np.uint8)
    # pair 0: close and similar (right), 1: close but different (wrong),
    # 2: far and different (right)
    path = visualize.save_pair_grid(
        tmp_path / "pairs.png", first, second, [0.2, 0.3, 1.4],
        [True, False, False], threshold=0.5, scale=2, columns=3)
    grid = np.asarray(Image.open(path))
    cell_w = 2 * 8 + 3 * 3 + 4
    frames = [tuple(grid[2 + 1, 2 + k * cell_w + 1]) for k in range(3)]
    assert frames == [(40, 160, 40), (210, 40, 40), (40, 160, 40)]
    # the first image of pair 0 is pasted after the frame
    assert tuple(grid[2 + 3, 2 + 3]) == (50, 50, 50)
    assert tuple(grid[2 + 3, 2 + 3 + 8 + 3]) == (200, 200, 200)
    with pytest.raises(ValueError, match="distances"):
        visualize.save_pair_grid(tmp_path / "x.png", first, second, [0.1],
                                 [True, False, False])
