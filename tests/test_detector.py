"""BlazeFace detection: anchors, decoding, recall on labelled group photos, LFW, and a photo of dogs."""

import numpy as np
import pytest

from converter.detection_eval import false_positives, labelled_recall, lfw_found_rate
from edge.vision.detector import SPECS, FaceDetector, ssd_anchors, weighted_nms


def test_anchor_layouts_match_mediapipe():
    short = ssd_anchors(SPECS["short"])
    full = ssd_anchors(SPECS["full"])
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    # the first 16×16 stride-8 cell holds two anchors at its centre
    assert np.allclose(short[0], [0.5 / 16, 0.5 / 16]) and np.allclose(short[1], short[0])
    assert np.allclose(full[-1], [47.5 / 48, 47.5 / 48])


def test_weighted_nms_merges_overlaps_and_keeps_separate_faces():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], float)
    scores = np.array([0.9, 0.6, 0.8])
    out = weighted_nms(boxes, scores, 0.3)
    assert len(out) == 2
    merged, s = out[0]
    assert s == 0.9 and 0 < merged[0] < 1  # pulled toward the weaker overlapping box


def test_unknown_model_name_is_refused():
    with pytest.raises(ValueError, match="detector model must be one of"):
        FaceDetector("medium")


def test_letterboxing_maps_boxes_back_to_frame_pixels(seed_dir, detector):
    """A face placed at two offsets of a wide (non-square) frame is reported at those offsets."""
    from edge.vision.imageio import read_image

    img = read_image(seed_dir / "database" / "Emilia Clarke.jpg")
    h, w = img.shape[:2]
    boxes = []
    for offset in (0, 2 * w):
        wide = np.zeros((h, w * 3, 3), np.uint8)
        wide[:, offset:offset + w] = img
        box = detector.detect(wide)[0].box
        boxes.append((box[0] - offset, box[1], box[2], box[3]))
    (x0, y0, w0, h0), (x1, y1, w1, h1) = boxes
    assert abs(x1 - x0) < 0.08 * w0 and abs(y1 - y0) < 0.08 * h0 and abs(w1 - w0) < 0.08 * w0


def test_recall_on_labelled_group_photos(groups_dir):
    r = labelled_recall(FaceDetector("full"), groups_dir / "testing.xml")
    print(f"\nfull range on testing.xml: {r}")
    assert r["recall"] >= 0.90


def test_short_range_alone_misses_small_faces(groups_dir):
    """Why full range is the default: the short-range model finds few of these ~37 px faces."""
    assert labelled_recall(FaceDetector("short"), groups_dir / "testing.xml")["recall"] < 0.5


def test_a_face_is_found_in_lfw_images(shared_lfw, detector):
    r = lfw_found_rate(detector, shared_lfw, sample=1500, seed=4)
    print(f"\nLFW sample: found {r['found_rate']:.4f} of {r['images']}; missed {r['missed'][:5]}")
    assert r["found_rate"] >= 0.99


def test_false_positives_on_dogs_are_reported_and_removed_by_facemesh(groups_dir, detector):
    from edge.vision.card import AlignmentSpec
    from edge.vision.imageio import read_image
    from edge.vision.preprocess import FacePreprocessor

    fps = false_positives(detector, groups_dir / "dogs.jpg")
    print(f"\ndogs.jpg, detector alone: {len(fps)} false positive(s) {fps}")
    assert len(fps) <= 2
    # the short-range fallback's dog face is not confirmed by FaceMesh: the pipeline sees no face
    assert FacePreprocessor(AlignmentSpec(), detector=detector).faces(read_image(groups_dir / "dogs.jpg")) == []


def test_full_range_input_takes_the_frame_aspect():
    """640×480 runs at 192×144 (not the 192×192 square, no bars), portrait frames at 144×192, 16:9 at
    112×192 (108 rounded up to a multiple of 16), square stays."""
    d = FaceDetector("full")
    assert d.input_shape_for(480, 640) == (144, 192)
    assert d.input_shape_for(640, 480) == (192, 144)
    assert d.input_shape_for(720, 1280) == (112, 192)
    assert d.input_shape_for(250, 250) == (192, 192)
    assert FaceDetector("full", fit_frame=False).input_shape_for(480, 640) == (192, 192)
    assert FaceDetector("short").input_shape_for(480, 640) == (128, 128)  # several anchor grids: stays square


def test_anchors_follow_a_non_square_input():
    anchors = ssd_anchors(SPECS["full"], 160, 192)
    assert anchors.shape == (40 * 48, 2)
    assert np.allclose(anchors[0], [0.5 / 48, 0.5 / 40]) and np.allclose(anchors[-1], [47.5 / 48, 39.5 / 40])


def test_reshaped_model_runs_with_the_new_input():
    from edge.vision.assets import asset_path
    from edge.vision.model_reshape import reshaped_model
    from edge.vision.runtime import TFLiteModel

    path = asset_path(SPECS["full"].file)
    net = TFLiteModel(path, content=reshaped_model(path, 160, 192))
    outputs = net.run(np.zeros((1, 160, 192, 3), np.float32))
    assert net.input_shape == (1, 160, 192, 3)
    assert sorted(o.shape for o in outputs) == [(1, 1920, 1), (1, 1920, 16)]
    with pytest.raises(ValueError, match="multiples of 16"):
        reshaped_model(path, 150, 192)


def test_reshaped_model_changes_only_the_input_shape_and_resize_sizes():
    """Read back with the official generated schema: input 160×192, upsampling 10×12 → 20×24 → 40×48,
    every other byte as fetched."""
    from ai_edge_litert import schema_py_generated as schema

    from edge.vision.assets import asset_path
    from edge.vision.model_reshape import reshaped_model

    path = asset_path(SPECS["full"].file)
    before, after = path.read_bytes(), reshaped_model(path, 160, 192)
    model = schema.Model.GetRootAs(bytearray(after), 0)
    graph = model.Subgraphs(0)
    assert graph.Tensors(graph.Inputs(0)).ShapeAsNumpy().tolist() == [1, 160, 192, 3]
    sizes = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        if model.OperatorCodes(op.OpcodeIndex()).BuiltinCode() == schema.BuiltinOperator.RESIZE_BILINEAR:
            sizes.append(model.Buffers(graph.Tensors(op.Inputs(1)).Buffer()).DataAsNumpy().view(np.int32).tolist())
    assert sizes == [[10, 12], [20, 24], [40, 48]]
    changed = sum(a != b for a, b in zip(before, after, strict=True))
    assert len(before) == len(after) and 0 < changed <= 4 * 8  # eight int32s at most


def _sliced_with_the_official_builder(path, height: int, width: int) -> bytes:
    """The oracle: the same edit as :func:`reshaped_model` made with the flatbuffers object API and the
    generated TFLite schema (what the device cannot afford to import): each upsampling ×2 of what
    reaches it, then a SLICE to the skip's size where that is smaller."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(path.read_bytes(), 0))
    graph = model.subgraphs[0]
    graph.tensors[graph.inputs[0]].shape = np.array([1, height, width, 3], np.int32)
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.SLICE
    model.operatorCodes.append(code)
    operators = []
    for op in graph.operators:
        operators.append(op)
        if model.operatorCodes[op.opcodeIndex].builtinCode != schema.BuiltinOperator.RESIZE_BILINEAR:
            continue
        size = model.buffers[graph.tensors[op.inputs[1]].buffer]
        need = size.data.view(np.int32) * [height, width] // 192
        full = 2 * ((need + 1) // 2)
        size.data = full.astype(np.int32).view(np.uint8)
        if (full == need).all():
            continue
        channels = int(graph.tensors[op.outputs[0]].shape[3])
        graph.tensors[op.outputs[0]].shape = np.array([1, *need, channels], np.int32)
        wide = schema.TensorT()
        wide.shape = np.array([1, *full, channels], np.int32)
        graph.tensors.append(wide)
        inputs = [len(graph.tensors) - 1]
        for values in ([0, 0, 0, 0], [1, *need, channels]):
            buffer = schema.BufferT()
            buffer.data = np.array(values, np.int32).view(np.uint8)
            model.buffers.append(buffer)
            const = schema.TensorT()
            const.shape, const.type = np.array([4], np.int32), schema.TensorType.INT32
            const.buffer = len(model.buffers) - 1
            graph.tensors.append(const)
            inputs.append(len(graph.tensors) - 1)
        cut = schema.OperatorT()
        cut.opcodeIndex, cut.inputs, cut.outputs = len(model.operatorCodes) - 1, np.array(inputs, np.int32), op.outputs
        cut.builtinOptionsType, cut.builtinOptions = schema.BuiltinOptions.SliceOptions, schema.SliceOptionsT()
        op.outputs = np.array(inputs[:1], np.int32)
        operators.append(cut)
    graph.operators = operators
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.mark.parametrize("height, width", [(144, 192), (192, 144), (112, 192)])
def test_an_input_of_16_times_odd_cuts_the_first_upsampling_to_its_skip(height, width):
    """192×144 (a 4:3 frame, no bars): the bottleneck has 5 rows (144/32 = 4.5, rounded up by the
    stride) where the skip it is upsampled onto has 9. Read back with the official generated schema:
    the first upsampling keeps its ×2 (10 rows) and a SLICE after it keeps 9; the others stay exact
    (18, 36); every tensor, buffer and operator of the file is still there. And the graph computes,
    bit for bit, what the same edit made with the official flatbuffers builder computes."""
    from ai_edge_litert import schema_py_generated as schema

    from edge.vision.assets import asset_path
    from edge.vision.model_reshape import reshaped_model
    from edge.vision.runtime import TFLiteModel

    path = asset_path(SPECS["full"].file)
    content = reshaped_model(path, height, width)
    before, after = schema.Model.GetRootAs(path.read_bytes(), 0), schema.Model.GetRootAs(bytearray(content), 0)
    graph = after.Subgraphs(0)
    assert graph.Tensors(graph.Inputs(0)).ShapeAsNumpy().tolist() == [1, height, width, 3]
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    ops = [names[after.OperatorCodes(graph.Operators(i).OpcodeIndex()).BuiltinCode()]
           for i in range(graph.OperatorsLength())]
    resizes = [i for i, name in enumerate(ops) if name == "RESIZE_BILINEAR"]
    assert ops[resizes[0] + 1] == "SLICE" and ops.count("SLICE") == 1
    assert [o for o in ops if o != "SLICE"] == [
        names[before.OperatorCodes(before.Subgraphs(0).Operators(i).OpcodeIndex()).BuiltinCode()]
        for i in range(before.Subgraphs(0).OperatorsLength())]
    assert graph.TensorsLength() == before.Subgraphs(0).TensorsLength() + 3
    assert after.BuffersLength() == before.BuffersLength() + 2
    cut = graph.Operators(resizes[0] + 1)
    assert graph.Tensors(cut.Inputs(2)).ShapeAsNumpy().tolist() == [4]

    x = np.random.default_rng(0).uniform(-1, 1, (1, height, width, 3)).astype(np.float32)
    ours = TFLiteModel(path, content=content).run(x)
    official = TFLiteModel(path, content=_sliced_with_the_official_builder(path, height, width)).run(x)
    assert [o.shape for o in ours] == [o.shape for o in official]
    assert {o.shape[1] for o in ours} == {height * width // 16}  # one anchor per 4×4 cell
    for a, b in zip(ours, official, strict=True):
        assert np.array_equal(a, b)
    # LiteRT's own kernels (what runs when XNNPACK cannot start) accept the graph and agree
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    plain = Interpreter(model_content=content,
                        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    plain.allocate_tensors()
    plain.set_tensor(plain.get_input_details()[0]["index"], x)
    plain.invoke()
    for detail, a in zip(plain.get_output_details(), ours, strict=True):
        assert np.allclose(plain.get_tensor(detail["index"]), a, atol=1e-3)


def test_fitted_input_finds_the_faces_the_square_finds(seed_dir):
    """Same weights, same pixels per face: every confident face of the square input is found again,
    and no fewer faces overall. (Faces near the threshold differ either way: in got.jpg the fitted
    input finds two more of the cast, in tbbt.jpg one face swaps for another.)"""
    from converter.detection_eval import iou
    from edge.vision.imageio import read_image

    fitted, square = FaceDetector("full"), FaceDetector("full", fit_frame=False)
    totals = [0, 0]
    for path in sorted((seed_dir / "sample").glob("*.jpg")):
        img = read_image(path)
        assert fitted.input_shape_for(*img.shape[:2]) != (192, 192)
        a, b = fitted.detect(img), square.detect(img)
        totals[0] += len(a)
        totals[1] += len(b)
        for face in b:
            if face.score >= 0.7:
                assert max((iou(face.box, f.box) for f in a), default=0) > 0.6, (path.name, face.box)
    assert totals[0] >= totals[1] > 0


@pytest.mark.parametrize("failure", ["cannot be re-shaped", "re-shaped graph does not load"])
def test_square_input_is_used_when_the_model_cannot_be_reshaped(monkeypatch, seed_dir, failure):
    """A model file the re-shaper does not understand, or an interpreter that refuses the re-shaped
    graph (an older runtime, say), still detects, through the square input."""
    import edge.vision.detector as det
    from edge.vision.imageio import read_image
    from edge.vision.model_reshape import ReshapeUnavailable

    def unavailable(*_args, **_kwargs):
        if failure == "cannot be re-shaped":
            raise ReshapeUnavailable("a resize layer has a computed (not constant) size")
        return b"TFL3 but not a model an interpreter loads"

    monkeypatch.setattr(det, "reshaped_model", unavailable)
    d = FaceDetector("full")
    img = read_image(seed_dir / "sample" / "friends.jpg")
    assert d.detect(img) and not d.fit_frame
    assert d.input_shape_for(*img.shape[:2]) == (192, 192)


def test_the_swapped_colour_look_adds_no_false_face_on_small_views_of_dogs(groups_dir, detector, monkeypatch):
    """Small photos with nothing found get extra looks (a border, then red and blue swapped); over
    every 100-px view of dogs.jpg the swapped looks must not add a face to what the border finds."""
    from converter.detection_eval import small_views
    from edge.vision import preprocess
    from edge.vision.card import AlignmentSpec
    from edge.vision.imageio import read_image

    pre = preprocess.FacePreprocessor(AlignmentSpec(), detector=detector)
    views = small_views(read_image(groups_dir / "dogs.jpg"))
    shipped = sum(len(pre.faces(v, tile=0)) for v in views)
    looks = preprocess.border_retries
    monkeypatch.setattr(preprocess, "border_retries", lambda image: (v for v in looks(image) if not v[2]))
    border_only = sum(len(pre.faces(v, tile=0)) for v in views)
    print(f"\n{len(views)} views of dogs.jpg: {shipped} faces with the swapped look, {border_only} without")
    assert len(views) > 400 and shipped == border_only
