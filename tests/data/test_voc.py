import os
import warnings

import numpy as np
import pytest
from PIL import Image

import kzoo
from tests.conftest import datasets_root


def _object(name, box, difficult=0):
    fields = "".join(
        f"<{k}>{v}</{k}>" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), box)
        if v is not None
    )
    return (f"<object><name>{name}</name><difficult>{difficult}</difficult>"
            f"<bndbox>{fields}</bndbox></object>")


def _xml(filename, height, width, objects):
    return (f"<annotation><filename>{filename}</filename><size><width>{width}"
            f"</width><height>{height}</height><depth>3</depth></size>"
            + "".join(objects) + "</annotation>")


def write_voc(root, images, splits, ext=".png"):
    """Writes a VOC folder.

    `images`: `{id: (uint8 array [H, W, 3], [object xml strings] or a raw
    XML string)}`; `splits`: `{split: [ids]}`.
    """
    for d in ("Annotations", "JPEGImages", os.path.join("ImageSets", "Main")):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    for image_id, (array, objects) in images.items():
        if array is not None:
            Image.fromarray(array).save(
                os.path.join(root, "JPEGImages", image_id + ext))
        if isinstance(objects, str):
            text = objects
        else:
            h, w = (array.shape[:2] if array is not None else (10, 10))
            text = _xml(image_id + ext, h, w, objects)
        with open(os.path.join(root, "Annotations", image_id + ".xml"), "w") as f:
            f.write(text)
    for split, ids in splits.items():
        with open(os.path.join(root, "ImageSets", "Main", split + ".txt"),
                  "w") as f:
            f.write("\n".join(ids) + "\n")
    return str(root)


def _image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype("uint8")


def _valid_voc(root):
    images = {
        "a": (_image(40, 60, 1), [_object("dog", (1, 2, 30, 20)),
                                  _object("cat", (10, 5, 60, 40), 1)]),
        "b": (_image(50, 50, 2), [_object("cat", (0, 0, 50, 50))]),
        "c": (_image(30, 20, 3), []),
        "d": (_image(20, 20, 4), [_object("bird", (2, 2, 8, 8))]),
    }
    return write_voc(root, images, {"train": ["a", "b", "c"], "val": ["d", "a"]})


def _no_warnings(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


def test_load_valid_folder(tmp_path):
    root = _valid_voc(tmp_path)
    voc = _no_warnings(kzoo.data.load_voc, root, "train")
    assert isinstance(voc, kzoo.data.VOCDataset) and len(voc) == 3
    assert voc.class_names == ("cat", "dog")  # sorted names of the split
    assert [os.path.basename(p) for p in voc.image_paths] == ["a.png", "b.png", "c.png"]
    assert voc.image_sizes == [(40, 60), (50, 50), (30, 20)]
    np.testing.assert_array_equal(voc.boxes[0], [[1, 2, 30, 20], [10, 5, 60, 40]])
    assert voc.boxes[0].dtype == np.float32 and voc.classes[0].dtype == np.int32
    np.testing.assert_array_equal(voc.classes[0], [1, 0])
    np.testing.assert_array_equal(voc.difficult[0], [False, True])
    assert voc.boxes[2].shape == (0, 4) and voc.classes[2].shape == (0,)
    assert voc.skipped == [] and voc.clipped == []
    assert voc.class_counts() == {"cat": 2, "dog": 1}

    examples = list(voc.as_dataset())
    assert len(examples) == 3
    saved = np.asarray(Image.open(os.path.join(root, "JPEGImages", "a.png")))
    np.testing.assert_array_equal(examples[0]["image"], saved)
    assert examples[0]["image"].dtype.name == "uint8"
    np.testing.assert_array_equal(examples[0]["boxes"], voc.boxes[0])
    np.testing.assert_array_equal(examples[0]["classes"], [1, 0])
    assert examples[2]["boxes"].shape == (0, 4)
    no_difficult = list(voc.as_dataset(include_difficult=False))
    np.testing.assert_array_equal(no_difficult[0]["classes"], [1])

    val = _no_warnings(kzoo.data.load_voc, root, "val",
                       class_names=("dog", "cat", "bird"))
    assert val.class_names == ("dog", "cat", "bird")
    np.testing.assert_array_equal(val.classes[0], [2])
    np.testing.assert_array_equal(val.classes[1], [0, 1])


def test_limit_keeps_first_ids_and_class_names_of_whole_split(tmp_path):
    root = _valid_voc(tmp_path)
    voc = kzoo.data.load_voc(root, "val", limit=1)
    assert len(voc) == 1 and os.path.basename(voc.image_paths[0]) == "d.png"
    # Names come from the whole split, so indices do not depend on `limit`.
    assert voc.class_names == ("bird", "cat", "dog")
    with pytest.raises(ValueError, match="limit"):
        kzoo.data.load_voc(root, "val", limit=0)


# (image id, object list or raw XML, reason fragment, file-level?)
_PROBLEMS = [
    ("degenerate", [_object("cat", (5, 5, 5, 9))], "degenerate box [5, 5, 5, 9]", False),
    ("inverted", [_object("cat", (5, 9, 8, 3))], "degenerate box", False),
    ("nan", [_object("cat", (1, 1, "nan", 9))], "non-finite", False),
    ("text", [_object("cat", (1, 1, "abc", 9))], "<xmax> is not a number", False),
    ("nobox", ["<object><name>cat</name></object>"], "missing <bndbox>", False),
    ("nofield", [_object("cat", (1, 1, 5, None))], "missing <bndbox>/<ymax>", False),
    ("noname", ["<object><bndbox><xmin>1</xmin></bndbox></object>"], "missing <name>", False),
    ("outside", [_object("cat", (1, 1, 25, 9))], "more than 1 px outside", False),
    ("badxml", "<annotation><object>", "unparsable XML", True),
    ("wrongroot", "<foo></foo>", "expected <annotation>", True),
    ("badsize", _xml("badsize.png", 99, 20, []), "<size> 20x99 differs", True),
]


def _problem_voc(root):
    images = {}
    for image_id, objects, _, _ in _PROBLEMS:
        if not isinstance(objects, str):
            objects = objects + [_object("dog", (2, 2, 6, 6))]  # a good box
        images[image_id] = (_image(10, 20), objects)
    images["noimage"] = (None, [_object("dog", (1, 1, 4, 4))])
    images["truncated"] = (_image(10, 20), [_object("dog", (1, 1, 4, 4))])
    images["clip"] = (_image(10, 20), [_object("dog", (-0.5, 0, 20.75, 10))])
    root = write_voc(root, images, {"train": list(images) + ["noxml"]})
    path = os.path.join(root, "JPEGImages", "truncated.png")
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    return root


def test_invalid_annotations_are_skipped_counted_and_named(tmp_path):
    root = _problem_voc(tmp_path)
    with pytest.warns(UserWarning, match="skipped 14 invalid") as record:
        voc = kzoo.data.load_voc(root, "train")
    assert len(record) == 1
    message = str(record[0].message)
    assert "degenerate.xml" in message and "clipped 1 box" in message
    reasons = {os.path.basename(f)[:-4]: r for f, r in voc.skipped}
    assert len(voc.skipped) == 14 == len(reasons)
    for image_id, _, fragment, file_level in _PROBLEMS:
        assert fragment in reasons[image_id], (image_id, reasons[image_id])
        assert reasons[image_id].endswith(
            "image skipped" if file_level else "box skipped")
    assert "image file not found: " in reasons["noimage"]
    assert "noimage.jpg (nor noimage.png from <filename>)" in reasons["noimage"]
    assert "cannot be decoded" in reasons["truncated"]
    assert "annotation file" in reasons["noxml"]
    kept = {os.path.basename(p)[:-4]: i for i, p in enumerate(voc.image_paths)}
    # Box-level problems keep the image and its good box.
    for image_id, _, _, file_level in _PROBLEMS:
        assert (image_id in kept) != file_level
        if not file_level:
            np.testing.assert_array_equal(voc.boxes[kept[image_id]], [[2, 2, 6, 6]])
    assert "truncated" not in kept and "noimage" not in kept
    # Slightly-out box: clipped to the image and counted, not skipped.
    np.testing.assert_array_equal(voc.boxes[kept["clip"]], [[0, 0, 20, 10]])
    assert len(voc.clipped) == 1 and "clip.xml" in voc.clipped[0][0]
    # Header-only checking lets the truncated file through.
    with pytest.warns(UserWarning):
        quick = kzoo.data.load_voc(root, "train", check_images=False)
    assert any(p.endswith("truncated.png") for p in quick.image_paths)


@pytest.mark.parametrize("image_id", [p[0] for p in _PROBLEMS] + ["noimage", "noxml"])
def test_on_invalid_raise_names_the_file(tmp_path, image_id):
    root = _problem_voc(tmp_path)
    with open(os.path.join(root, "ImageSets", "Main", "one.txt"), "w") as f:
        f.write(image_id + "\n")
    with pytest.raises(ValueError, match=rf"{image_id}\.xml"):
        kzoo.data.load_voc(root, "one", on_invalid="raise")


def test_unknown_class_is_an_invalid_box(tmp_path):
    root = _valid_voc(tmp_path)
    with pytest.warns(UserWarning, match="skipped 2 invalid"):
        voc = kzoo.data.load_voc(root, "train", class_names=["dog"])
    assert [os.path.basename(f) for f, _ in voc.skipped] == ["a.xml", "b.xml"]
    assert "class 'cat' not in class_names ['dog']" in voc.skipped[0][1]
    np.testing.assert_array_equal(voc.classes[0], [0])
    assert len(voc) == 3 and voc.boxes[1].shape == (0, 4)
    with pytest.raises(ValueError, match="a.xml: class 'cat'"):
        kzoo.data.load_voc(root, "train", class_names=["dog"], on_invalid="raise")


def test_missing_folders_and_bad_arguments(tmp_path):
    with pytest.raises(kzoo.data.DataUnavailableError, match="No Pascal VOC folder"):
        kzoo.data.load_voc(str(tmp_path / "absent"))
    os.makedirs(tmp_path / "empty")
    with pytest.raises(kzoo.data.DataUnavailableError, match="ImageSets/Main"):
        kzoo.data.load_voc(str(tmp_path / "empty"))
    root = _valid_voc(tmp_path / "voc")
    with pytest.raises(ValueError, match=r"available splits: \['train', 'val'\]"):
        kzoo.data.load_voc(root, "trian")
    with pytest.raises(ValueError, match="on_invalid"):
        kzoo.data.load_voc(root, on_invalid="ignore")
    with pytest.raises(TypeError, match="class_names"):
        kzoo.data.load_voc(root, class_names="cat")


def test_resolve_data_dir_finds_a_voc_folder(tmp_path, monkeypatch):
    root = _valid_voc(tmp_path / "bccd")
    assert kzoo.data.resolve_data_dir(str(tmp_path), "bccd",
                                      marker="Annotations") == root
    assert kzoo.data.resolve_data_dir(root, "bccd", marker="Annotations") == root
    monkeypatch.setenv("KZOO_DATA_DIR", str(tmp_path))
    assert kzoo.data.resolve_data_dir(None, "bccd", marker="Annotations") == root
    with pytest.raises(kzoo.data.DataUnavailableError, match="Annotations"):
        kzoo.data.resolve_data_dir(str(tmp_path), "voc2007", marker="Annotations")


# ---------------------------------------------------------------------------
# The real BCCD dataset.


@pytest.fixture(scope="module")
def bccd_dir():
    path = os.path.join(datasets_root(), "bccd")
    if not os.path.isdir(os.path.join(path, "Annotations")):
        pytest.skip(f"BCCD VOC folder not found at {path} (set KZOO_DATA_DIR)")
    return path


def test_bccd_splits_classes_and_degenerate_boxes(bccd_dir):
    loaded = {}
    for split in ("train", "val", "test"):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            loaded[split] = kzoo.data.load_voc(bccd_dir, split)
        assert len(record) == (0 if split == "test" else 1)
    assert {s: len(v) for s, v in loaded.items()} == {
        "train": 205, "val": 87, "test": 72}
    for voc in loaded.values():
        assert voc.class_names == ("Platelets", "RBC", "WBC")
        assert voc.clipped == []
        assert all(not d.any() for d in voc.difficult)
        assert all(size == (480, 640) for size in voc.image_sizes)
    skipped = {s: [(os.path.basename(f), r) for f, r in v.skipped]
               for s, v in loaded.items()}
    assert [f for f, _ in skipped["train"]] == ["BloodImage_00343.xml"]
    assert "(RBC): degenerate box [181, 329, 181, 329]" in skipped["train"][0][1]
    assert [f for f, _ in skipped["val"]] == ["BloodImage_00338.xml"]
    assert "(RBC): degenerate box [504, 337, 504, 337]" in skipped["val"][0][1]
    assert skipped["test"] == []
    totals = {name: 0 for name in ("Platelets", "RBC", "WBC")}
    for voc in loaded.values():
        for name, n in voc.class_counts().items():
            totals[name] += n
    totals["RBC"] += 2  # the two degenerate RBC boxes
    assert totals == {"RBC": 4155, "WBC": 372, "Platelets": 361}
    max_boxes = {s: int(v.num_boxes().max()) for s, v in loaded.items()}
    assert max_boxes == {"train": 28, "val": 30, "test": 24}
    for voc in loaded.values():
        for b in voc.boxes:
            assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
            assert b.min() >= 0 and b[:, 2].max() <= 640 and b[:, 3].max() <= 480
    with pytest.raises(ValueError, match="BloodImage_00343.xml: object 3"):
        kzoo.data.load_voc(bccd_dir, "train", on_invalid="raise")
