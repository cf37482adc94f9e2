"""Model records and the download cache: cards agree with code, downloads are sha256-checked."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import SHARED_MODELS, shared_model

from autofocuspull.core.errors import ModelUnavailableError
from autofocuspull.core.hub import MODEL_CARDS, cache_dir, resolve_model_file, sha256_of

CARDS_DIR = Path(__file__).resolve().parents[1] / "models"


@pytest.mark.parametrize("name", sorted(MODEL_CARDS))
def test_each_record_has_a_card_with_its_sha256_and_licence(name: str) -> None:
    card = MODEL_CARDS[name]
    text = "\n".join(p.read_text() for p in CARDS_DIR.glob("*.md"))
    assert card.sha256 and card.sha256 in text, f"{name}: sha256 missing from models/*.md"
    assert card.licence in text and card.url and card.url.startswith("https://")


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(MODEL_CARDS))
def test_shared_weights_match_the_records(name: str) -> None:
    card = MODEL_CARDS[name]
    assert sha256_of(shared_model(card.filename)) == card.sha256


def _with_url(name: str, url: str) -> object:
    return dataclasses.replace(MODEL_CARDS[name], url=url)


@pytest.mark.shared
def test_download_is_checked_and_cached(online: None) -> None:
    src = shared_model("yunet_n_320_320.onnx")
    card = _with_url("yunet", src.as_uri())  # file:// goes through the same urllib download path
    path = resolve_model_file(card)
    assert path == cache_dir() / "models" / card.filename and sha256_of(path) == card.sha256
    src_gone = _with_url("yunet", (SHARED_MODELS / "does-not-exist.onnx").as_uri())
    assert resolve_model_file(src_gone) == path  # second call: from the cache, no download


@pytest.mark.shared
def test_download_with_wrong_sha256_is_refused_and_deleted(online: None) -> None:
    wrong = shared_model("yolox_nano.onnx")  # a real file, but not YuNet
    card = _with_url("yunet", wrong.as_uri())
    with pytest.raises(ModelUnavailableError, match="sha256 mismatch"):
        resolve_model_file(card)
    folder = cache_dir() / "models"
    assert not (folder / card.filename).exists()
    assert not any(folder.glob("*.part"))


def test_tampered_cache_file_is_refused_and_deleted() -> None:
    folder = cache_dir() / "models"
    folder.mkdir(parents=True)
    bad = folder / MODEL_CARDS["light-asd"].filename
    bad.write_bytes(b"not the model")
    with pytest.raises(ModelUnavailableError, match="sha256 mismatch"):
        resolve_model_file("light-asd")
    assert not bad.exists()


def test_offline_message_says_what_to_download_and_where() -> None:
    with pytest.raises(ModelUnavailableError) as e:
        resolve_model_file("yolox-nano", flag="--object-model")
    msg = str(e.value)
    assert MODEL_CARDS["yolox-nano"].url in msg
    assert str(cache_dir() / "models" / "yolox_nano.onnx") in msg and "--object-model PATH" in msg
    assert "\n" not in msg


def test_user_path_wins_and_a_missing_one_is_named(tmp_path: Path) -> None:
    mine = tmp_path / "my_yunet.onnx"
    mine.write_bytes(b"fine-tuned weights")  # a user's own file is trusted as is
    assert resolve_model_file("yunet", mine) == mine
    with pytest.raises(ModelUnavailableError, match=r"nope\.onnx: yunet model file not found"):
        resolve_model_file("yunet", tmp_path / "nope.onnx")
