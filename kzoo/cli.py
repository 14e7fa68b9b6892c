"""`kzoo`: answers from the trained presets, without training.

    kzoo presets                                   the presets and figures
    kzoo embed PRESET FILES... [--out F.npy|F.csv] images, WAVs or texts
    kzoo detect PRESET IMAGES... --out DIR         boxes: JSON + drawn PNG
    kzoo landmarks PRESET IMAGES... --out DIR      68 points: JSON + PNG
    kzoo fill PRESET "text with ___"               fill the blanks
    kzoo search PRESET --gallery DIR QUERY...      nearest gallery images
    kzoo export PRESET|all --format ...            SavedModel, LiteRT, ONNX

Also `python -m kzoo`. Inputs can be files or directories (their images,
or WAVs, sorted by name). Bad input (a corrupt image, a WAV that is not
16-bit 8 kHz, an empty text, a directory without images, an unknown
preset) ends with one line naming the file and the reason, and exit code
2; never a traceback.
"""

import argparse
import json
import os
import sys

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif",
                    ".tiff", ".webp", ".ppm")
AUDIO_EXTENSIONS = (".wav",)
EMBEDDING_TASKS = ("image_embedding", "pair_verification",
                   "audio_image_retrieval", "audio_text_retrieval")


class CLIError(Exception):
    """Bad input: one line for the user, exit code 2."""


# -- inputs ----------------------------------------------------------------

def expand_inputs(paths, extensions, what):
    """Files of `paths` (directories: their files with `extensions`,
    sorted), each checked to exist."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(os.path.join(path, f) for f in os.listdir(path)
                           if f.lower().endswith(extensions)
                           and os.path.isfile(os.path.join(path, f)))
            if not found:
                raise CLIError(f"{path}: a directory without {what} "
                               f"({', '.join(extensions)})")
            files.extend(found)
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise CLIError(f"{path}: no such file or directory")
    if not files:
        raise CLIError(f"no {what} given")
    return files


def read_image(path):
    """`uint8 [H, W, 3]` RGB pixels of an image file."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            return np.asarray(img.convert("RGB"), np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        reason = str(e).split("\n")[0] or type(e).__name__
        raise CLIError(f"{path}: not a readable image ({reason})") from None


def read_audio(path, sampling_rate, num_samples):
    """A WAV as the audio presets take it: 16-bit PCM at `sampling_rate`,
    mono (channels averaged), fit to `num_samples` (centre crop or
    centred silence: `kzoo.data.fit_length`)."""
    import wave

    import numpy as np

    try:
        with wave.open(path, "rb") as f:
            width, channels = f.getsampwidth(), f.getnchannels()
            rate, frames = f.getframerate(), f.readframes(f.getnframes())
    except (wave.Error, EOFError, OSError) as e:
        raise CLIError(f"{path}: not a readable WAV file ({e})") from None
    if width != 2:
        raise CLIError(f"{path}: {8 * width}-bit samples; the presets take "
                       "16-bit PCM WAV")
    if rate != sampling_rate:
        raise CLIError(f"{path}: sampled at {rate} Hz; the preset takes "
                       f"{sampling_rate} Hz (resample it, e.g. sox IN -r "
                       f"{sampling_rate} OUT)")
    samples = np.frombuffer(frames, "<i2").astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    if samples.size == 0:
        raise CLIError(f"{path}: an empty recording")
    length = int(num_samples)
    if samples.size >= length:
        start = (samples.size - length) // 2
        return samples[start:start + length]
    before = (length - samples.size) // 2
    return np.pad(samples, (before, length - samples.size - before))


def read_texts(paths, texts):
    """Texts from `--text` strings and `.txt` files (one text a line)."""
    out = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                lines = [line.strip() for line in f]
        except (OSError, UnicodeDecodeError) as e:
            raise CLIError(f"{path}: not a readable UTF-8 text file "
                           f"({e})") from None
        lines = [line for line in lines if line]
        if not lines:
            raise CLIError(f"{path}: no text in it")
        out.extend(lines)
    for text in texts:
        if not text.strip():
            raise CLIError("an empty text (--text '')")
        out.append(text)
    return out


def resize_image(pixels, size):
    """Pixels resized to `size x size` (bilinear, antialiased), float32."""
    import numpy as np
    from PIL import Image

    if pixels.shape[:2] == (size, size):
        return pixels.astype(np.float32)
    img = Image.fromarray(pixels).resize((size, size), Image.BILINEAR)
    return np.asarray(img, np.float32)


# -- presets ---------------------------------------------------------------

def _preset(name, tasks=None, command=None):
    from kzoo import presets

    try:
        card = presets.card(name)
    except presets.PresetError as e:
        raise CLIError(str(e)) from None
    if tasks and card["task"] not in tasks:
        fitting = [n for n in presets.names()
                   if presets.card(n)["task"] in tasks]
        raise CLIError(f"{name} is a {card['task']} preset; `kzoo "
                       f"{command}` takes {' / '.join(tasks)} presets: "
                       f"{', '.join(fitting) or 'none installed'}")
    return card


def _load(name, part=None):
    from kzoo import presets

    try:
        return presets.load(name, part=part)
    except presets.PresetError as e:
        raise CLIError(str(e)) from None


def _progress(total, what):
    """A Keras progress bar when there is enough to show, else `None`."""
    if total < 16 or not sys.stderr.isatty():
        return None
    import keras

    return keras.utils.Progbar(total, unit_name=what)


def _predict(model, batches, total, what):
    """Concatenated predictions of `model` over an iterator of batches."""
    import numpy as np

    bar = _progress(total, what)
    outs, done = [], 0
    for batch in batches:
        outs.append(np.asarray(model.predict_on_batch(batch)))
        done += len(batch)
        if bar is not None:
            bar.update(done)
    return np.concatenate(outs)


def _batched(items, size):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def cmd_presets(args):
    from kzoo import presets

    names = presets.names()
    if not names:
        print("no presets installed")
        return 0
    print(f"{'preset':42s} {'task':22s} headline (baseline)")
    for name in names:
        card = presets.card(name)
        head = card["headline"]
        value, base = head["value"], head.get("baseline")
        percent = "nme" not in head["metric"]
        fmt = (lambda v: f"{100 * v:.2f}%") if percent else (
            lambda v: f"{v:.4f}")
        print(f"{name:42s} {card['task']:22s} {head['metric']} {fmt(value)}"
              + (f" ({fmt(base)})" if base is not None else ""))
    return 0


def _embedding_inputs(card, args):
    """`(part, kind, items)`: which tower and the inputs to embed."""
    task = card["task"]
    texts = read_texts([p for p in args.inputs if p.endswith(".txt")],
                       args.text or [])
    files = [p for p in args.inputs if not p.endswith(".txt")]
    if texts and files:
        raise CLIError("give either texts (--text, .txt files) or "
                       "image / audio files, not both")
    if texts:
        if task != "audio_text_retrieval":
            raise CLIError(f"{card['name']} takes no text; texts go to an "
                           "audio_text_retrieval preset")
        return "text", "text", texts
    if not files:
        raise CLIError("no inputs: give image or WAV files (or "
                       "directories), or --text")
    # A directory holds the files of the part asked for (--part), else of
    # the preset's default part (audio for the dual encoders).
    wants_audio = "audio" in card["models"] and (
        args.part == "audio" or (args.part is None
                                 and card.get("default_part") == "audio"))
    expanded = expand_inputs(
        files, AUDIO_EXTENSIONS if wants_audio else IMAGE_EXTENSIONS,
        "WAV files" if wants_audio else "images")
    audio = [f.lower().endswith(AUDIO_EXTENSIONS) for f in expanded]
    if any(audio) and not all(audio):
        raise CLIError("mix of WAV and image files: embed one kind at a time")
    if all(audio):
        if "audio" not in card["models"]:
            raise CLIError(f"{expanded[0]}: {card['name']} takes no audio")
        return "audio", "audio", expanded
    if task == "audio_text_retrieval":
        raise CLIError(f"{expanded[0]}: {card['name']} embeds WAV files "
                       "and texts, not images")
    part = "image" if "image" in card["models"] else None
    return part, "image", expanded


def embed_items(card, part, kind, items, batch_size=64):
    """Embeddings `[N, D]` of `items` (paths or texts) with a preset."""
    import numpy as np

    name = card["name"]
    model = _load(name, part)
    if kind == "text":
        from kzoo import presets

        ids = presets.tokenizer(name)(items)
        return _predict(model, _batched(ids, batch_size), len(items),
                        "text")
    if kind == "audio":
        rate = card["audio"]["sampling_rate"]
        n = card["audio"]["num_samples"]

        def audio_batches():
            for paths in _batched(items, batch_size):
                yield np.stack([read_audio(p, rate, n) for p in paths])

        return _predict(model, audio_batches(), len(items), "clip")
    size = int(model.inputs[0].shape[1])

    def image_batches():
        for paths in _batched(items, batch_size):
            yield np.stack([resize_image(read_image(p), size)
                            for p in paths])

    return _predict(model, image_batches(), len(items), "image")


def _write_matrix(path, rows, values):
    import numpy as np

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if path.endswith(".csv"):
        import csv

        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["input"] + [f"e{i}" for i in
                                         range(values.shape[1])])
            for row, vector in zip(rows, values):
                writer.writerow([row] + [f"{v:.7g}" for v in vector])
    elif path.endswith(".npy"):
        np.save(path, values.astype(np.float32))
    else:
        raise CLIError(f"--out {path}: write .npy or .csv")


def cmd_embed(args):
    card = _preset(args.preset, EMBEDDING_TASKS, "embed")
    part, kind, items = _embedding_inputs(card, args)
    if args.part and part != args.part:
        raise CLIError(f"--part {args.part}: the inputs are {kind} "
                       f"({card['name']} parts: {sorted(card['models'])})")
    values = embed_items(card, part, kind, items, args.batch_size)
    _write_matrix(args.out, items, values)
    print(f"{len(items)} {kind} embeddings of dimension {values.shape[1]} "
          f"({card['name']}{'/' + part if part else ''}) -> {args.out}")
    return 0


def cmd_detect(args):
    import numpy as np

    from kzoo import visualize

    card = _preset(args.preset, ("detection",), "detect")
    files = expand_inputs(args.images, IMAGE_EXTENSIONS, "images")
    if not 0.0 <= args.score_threshold <= 1.0:
        raise CLIError(f"--score-threshold must be in [0, 1]. Received: "
                       f"{args.score_threshold}")
    images = [read_image(f) for f in files]  # all checked before the model
    serve = _detection_server(card)
    names = card["class_names"]
    os.makedirs(args.out, exist_ok=True)
    bar = _progress(len(files), "image")
    for i, (path, pixels) in enumerate(zip(files, images)):
        out = serve(pixels[None])
        n = int(np.asarray(out["num_detections"])[0])
        keep = np.asarray(out["scores"])[0, :n] >= args.score_threshold
        boxes = np.asarray(out["boxes"])[0, :n][keep]
        classes = np.asarray(out["classes"])[0, :n][keep]
        scores = np.asarray(out["scores"])[0, :n][keep]
        stem = os.path.splitext(os.path.basename(path))[0]
        record = {
            "image": os.path.abspath(path), "width": int(pixels.shape[1]),
            "height": int(pixels.shape[0]), "preset": card["name"],
            "score_threshold": args.score_threshold,
            "detections": [{"box": [round(float(v), 2) for v in box],
                            "class": names[int(c)], "score":
                            round(float(s), 4)}
                           for box, c, s in zip(boxes, classes, scores)]}
        with open(os.path.join(args.out, f"{stem}.json"), "w") as f:
            json.dump(record, f, indent=2)
        visualize.draw_detections(
            pixels, {"boxes": boxes, "classes": classes, "scores": scores},
            class_names=names).save(os.path.join(args.out, f"{stem}.png"))
        counts = {c: sum(d["class"] == c for d in record["detections"])
                  for c in names}
        if bar is None:
            print(f"{path}: " + ", ".join(f"{v} {k}" for k, v in
                                          counts.items()))
        else:
            bar.update(i + 1)
    print(f"{len(files)} image(s) -> {args.out} (JSON and PNG per image)")
    return 0


def _detection_server(card):
    """`kzoo.export.detection_serving_fn` of the preset: uint8 images of
    any size -> detections in their pixels."""
    import keras

    from kzoo.export import detection_serving_fn

    model = _load(card["name"])
    serve = detection_serving_fn(model, int(model.inputs[0].shape[1]))
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        serve = tf.function(serve, reduce_retracing=True)
    return serve


def cmd_landmarks(args):
    import numpy as np

    from kzoo import data

    card = _preset(args.preset, ("landmarks",), "landmarks")
    files = expand_inputs(args.images, IMAGE_EXTENSIONS, "images")
    images = [read_image(f) for f in files]
    model = _load(card["name"])
    size = int(model.inputs[0].shape[1])
    os.makedirs(args.out, exist_ok=True)
    for path, pixels in zip(files, images):
        canvas, scale, offset = data.letterbox_keypoint_images(
            pixels[None], size)
        canvas = np.clip(np.round(np.asarray(canvas)), 0, 255)
        out = model.predict_on_batch(canvas.astype(np.float32))
        points = np.asarray(out["landmarks"]) * float(size)
        points = np.asarray(data.unletterbox_keypoints(points, scale,
                                                       offset))[0]
        presence = float(1 / (1 + np.exp(-np.asarray(out["presence"])
                                         .reshape(-1)[0])))
        stem = os.path.splitext(os.path.basename(path))[0]
        record = {"image": os.path.abspath(path),
                  "width": int(pixels.shape[1]),
                  "height": int(pixels.shape[0]), "preset": card["name"],
                  "landmarks": [[round(float(x), 2), round(float(y), 2)]
                                for x, y in points],
                  "presence": round(presence, 4),
                  "coordinates": "pixels of the image, (x, y), iBUG 68-point "
                                 "order"}
        with open(os.path.join(args.out, f"{stem}.json"), "w") as f:
            json.dump(record, f, indent=2)
        _draw_points(pixels, points).save(
            os.path.join(args.out, f"{stem}.png"))
    print(f"{len(files)} face(s) -> {args.out} (JSON and PNG per image)")
    return 0


def _draw_points(pixels, points, scale=3):
    from PIL import Image, ImageDraw

    img = Image.fromarray(pixels).convert("RGB")
    img = img.resize((img.width * scale, img.height * scale),
                     Image.BILINEAR)
    draw = ImageDraw.Draw(img)
    for x, y in points:
        cx, cy = float(x) * scale, float(y) * scale
        draw.ellipse([cx - 2, cy - 2, cx + 2, cy + 2], fill=(255, 40, 40))
    return img


# The prior weights the cloze benchmark chose on pt_docs' validation
# paragraphs, by the prior's order and --lexicon-only
# (benchmarks/results/cloze_benchmark.json, "prior_weights":
# model_lexicon_prior, model_lexicon_bigram_prior,
# model_lexicon_bigram_prior_lexicon_only; order 1 lexicon-only was not
# measured and takes order 1's weight).
PRIOR_WEIGHTS = {(1, False): 32.0, (2, False): 64.0, (1, True): 32.0,
                 (2, True): 8.0}


def cmd_fill(args):
    from kzoo import models, presets

    card = _preset(args.preset, ("fill_blanks",), "fill")
    text = args.text
    if not text.strip():
        raise CLIError("an empty text: write it with `_` for each "
                       "character to fill")
    if "_" not in text:
        raise CLIError(f"no blank in {text!r}: write `_` for each "
                       "character to fill")
    tokenizer = presets.tokenizer(card["name"])
    normalized = tokenizer.normalize(text)
    if len(normalized) > tokenizer.sequence_length:
        raise CLIError(f"the text has {len(normalized)} characters; the "
                       f"model takes {tokenizer.sequence_length}")
    lexicon = None
    if args.lexicon:
        if not os.path.isfile(args.lexicon):
            raise CLIError(f"--lexicon {args.lexicon}: no such file (a "
                           "word list, one word a line, e.g. "
                           "text/pt_docs/words.txt of the datasets)")
        lexicon = models.Lexicon.from_file(args.lexicon)
    if args.corpus:
        if lexicon is None:
            raise CLIError("--corpus adds word frequencies to a lexicon: "
                           "give --lexicon too")
        if not os.path.isfile(args.corpus):
            raise CLIError(f"--corpus {args.corpus}: no such file (a text, "
                           "e.g. text/pt_docs/train.txt of the datasets)")
        with open(args.corpus, encoding="utf-8") as f:
            lexicon = lexicon.with_counts(f, order=args.prior_order,
                                          add_words=not args.lexicon_only)
    if args.lexicon_only and not args.corpus:
        raise CLIError("--lexicon-only keeps a corpus' words out of the "
                       "candidates: give --lexicon and --corpus too")
    if args.prior_weight is not None and (args.prior_weight < 0
                                          or not args.corpus):
        raise CLIError("--prior-weight must be >= 0 and needs --corpus "
                       f"(received {args.prior_weight:g})")
    prior_weight = 0.0
    if args.corpus:
        prior_weight = (PRIOR_WEIGHTS[args.prior_order, args.lexicon_only]
                        if args.prior_weight is None else args.prior_weight)
    model = _load(card["name"])
    if lexicon is None:
        filled = models.fill_blanks(model, text, tokenizer.vocabulary,
                                    free_length=args.free_length)
    else:
        filled = models.fill_words(
            model, text, tokenizer.vocabulary, lexicon,
            free_length=args.free_length,
            prior_weight=prior_weight)["text"]
    print(filled)
    return 0


def cmd_search(args):
    from kzoo import search as kz_search

    card = _preset(args.preset, EMBEDDING_TASKS, "search")
    part = "image" if "image" in card["models"] else None
    if card["task"] == "audio_text_retrieval":
        raise CLIError(f"{card['name']}: `kzoo search` searches image "
                       "galleries; use an image preset")
    gallery = expand_inputs([args.gallery], IMAGE_EXTENSIONS,
                            "gallery images")
    queries = expand_inputs(args.queries, IMAGE_EXTENSIONS, "query images")
    g = embed_items(card, part, "image", gallery, args.batch_size)
    q = embed_items(card, part, "image", queries, args.batch_size)
    index = kz_search.build_index(g, kind=args.index, num_queries=len(q))
    scores, ids = index.search(q, min(args.k, len(gallery)))
    results = []
    for path, row_s, row_i in zip(queries, scores, ids):
        results.append({"query": os.path.abspath(path), "neighbours": [
            {"image": os.path.abspath(gallery[int(i)]),
             "cosine": round(float(s), 4)}
            for s, i in zip(row_s, row_i) if i >= 0]})
        print(f"{path}: " + ", ".join(
            f"{os.path.basename(n['image'])} ({n['cosine']:.3f})"
            for n in results[-1]["neighbours"]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"preset": card["name"], "index": index.kind,
                       "gallery": len(gallery), "results": results}, f,
                      indent=2)
    print(f"{len(queries)} queries against {len(gallery)} gallery images "
          f"({index.kind} search)")
    return 0


def cmd_export(args):
    from kzoo import presets
    from kzoo.presets import export as preset_export

    names = presets.names() if args.preset == "all" else [args.preset]
    for name in names:
        _preset(name)
    formats = args.format or list(preset_export.FORMATS)
    for fmt in formats:
        if fmt not in preset_export.FORMATS:
            raise CLIError(f"--format {fmt}: choose from "
                           f"{', '.join(preset_export.FORMATS)}")
    for name in names:
        written = preset_export.export_preset(name, args.out, formats,
                                              verify=not args.no_verify)
        for fmt, info in written.items():
            check = info.get("max_abs_difference")
            print(f"{name} {fmt}: {info['path']}"
                  + (f" (its runtime matches Keras: max |diff| "
                     f"{check:.2e})" if check is not None else ""))
    if "savedmodel" in formats:
        config = preset_export.write_models_config(args.out)
        print(f"TF Serving: tensorflow_model_server --rest_api_port=8501 "
              f"--model_config_file={config}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="kzoo", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True,
                                metavar="COMMAND")
    p = sub.add_parser("presets", help="the presets and their figures")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("embed", help="embeddings of images, WAVs or texts")
    p.add_argument("preset")
    p.add_argument("inputs", nargs="*", help="image or WAV files or "
                   "directories, .txt files (one text a line)")
    p.add_argument("--text", action="append", help="a text to embed "
                   "(repeatable)")
    p.add_argument("--part", help="the tower of a dual encoder (default: "
                   "from the inputs)")
    p.add_argument("--out", default="embeddings.npy",
                   help="output .npy or .csv. Default: embeddings.npy")
    p.add_argument("--batch-size", type=int, default=64)
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("detect", help="detect objects; JSON + PNG per image")
    p.add_argument("preset")
    p.add_argument("images", nargs="+")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--score-threshold", type=float, default=0.25,
                   help="minimum score kept. Default: 0.25")
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("landmarks", help="facial landmarks; JSON + PNG")
    p.add_argument("preset")
    p.add_argument("images", nargs="+")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=cmd_landmarks)

    p = sub.add_parser("fill", help="fill the blanks `_` of a text")
    p.add_argument("preset")
    p.add_argument("text")
    p.add_argument("--free-length", action="store_true",
                   help="let each run of blanks take another length "
                   "(chosen by pseudo-log-likelihood)")
    p.add_argument("--lexicon",
                   help="a word list (one word a line): each word's blanks "
                   "are filled with a word of it the model prefers")
    p.add_argument("--corpus",
                   help="with --lexicon: a text whose words join the "
                   "lexicon with their frequencies, a word prior on the "
                   "model's choice (e.g. the training text)")
    p.add_argument("--lexicon-only", action="store_true",
                   help="with --corpus: write only the lexicon's words (the "
                   "corpus' other words, e.g. software names, still count "
                   "in the prior but are never written)")
    p.add_argument("--prior-order", type=int, choices=(1, 2), default=2,
                   help="with --corpus: 2, the word-bigram prior between "
                   "each word's neighbours, or 1, the word frequencies "
                   "alone. Default: 2 (the better of the two in "
                   "benchmarks/cloze_benchmark.py)")
    p.add_argument("--prior-weight", type=float, default=None,
                   help="with --corpus: weight of that prior "
                   "(kzoo.models.fill_words' prior_weight). Default: "
                   f"{PRIOR_WEIGHTS[2, False]:g} (order 2), "
                   f"{PRIOR_WEIGHTS[2, True]:g} (order 2, --lexicon-only) "
                   f"or {PRIOR_WEIGHTS[1, False]:g} (order 1), the weights "
                   "benchmarks/cloze_benchmark.py chose on validation "
                   "paragraphs")
    p.set_defaults(func=cmd_fill)

    p = sub.add_parser("search", help="nearest gallery images of queries")
    p.add_argument("preset")
    p.add_argument("queries", nargs="+")
    p.add_argument("--gallery", required=True, help="a directory of images")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--index", choices=["auto", "exact", "faiss-exact",
                                       "faiss-hnsw"], default="auto",
                   help="exact NumPy search, or FAISS (exact, or HNSW "
                   "approximate); auto: NumPy below 10,000 gallery images, "
                   "FAISS' exact index above, HNSW from 3,000 queries at "
                   "once (where its build pays; docs/serving.md, "
                   "'Search'); NumPy without FAISS. Default: auto")
    p.add_argument("--out", help="also write the results as JSON")
    p.add_argument("--batch-size", type=int, default=64)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("export", help="SavedModel, LiteRT and ONNX files")
    p.add_argument("preset", help="a preset name, or 'all'")
    p.add_argument("--format", action="append",
                   help="savedmodel, litert or onnx (repeatable). Default: "
                   "all three")
    p.add_argument("--out", default="exports", help="output directory. "
                   "Default: exports")
    p.add_argument("--no-verify", action="store_true",
                   help="skip running each file in its own runtime")
    p.set_defaults(func=cmd_export)
    return parser


def _start_devices_quietly():
    """Starts TensorFlow's devices with descriptor 2 at /dev/null: on a
    machine without a GPU its CUDA probe prints an error line that is not
    the user's business (the command line configures no devices)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        tf.config.list_logical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    import warnings

    warnings.filterwarnings("ignore", module="keras")
    if args.command != "presets":
        _start_devices_quietly()
    try:
        return args.func(args)
    except CLIError as e:
        print(f"kzoo {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kzoo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
