"""Object versions kept in a folder (offline, as the demo keeps them), and log serials."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtls_doctor.errors import InputError
from mtls_doctor.trail.objects import FolderVersions, bundle_diff, serial_value


def test_versions_are_kept_in_order_and_read_exactly(tmp_path: Path) -> None:
    store = FolderVersions(tmp_path)
    first = store.keep("pki", "ts/bundle.pem", b"one")
    second = store.keep("pki", "ts/bundle.pem", b"two")
    assert store.get_object("pki", "ts/bundle.pem", first) == b"one"
    assert store.get_object("pki", "ts/bundle.pem", None) == b"two"  # the current object
    assert store.previous_version("pki", "ts/bundle.pem", second) == first
    assert store.previous_version("pki", "ts/bundle.pem", first) is None


def test_a_missing_version_says_so(tmp_path: Path) -> None:
    store = FolderVersions(tmp_path)
    store.keep("pki", "crl.pem", b"x")
    with pytest.raises(
        InputError, match=r"s3://pki/crl.pem\?versionId=nope: no such object version"
    ):
        store.get_object("pki", "crl.pem", "nope")
    with pytest.raises(InputError, match="no such object version"):
        store.get_object("pki", "other.pem", None)


def test_keys_cannot_leave_the_folder(tmp_path: Path) -> None:
    store = FolderVersions(tmp_path / "root")
    store.keep("pki", "../../escape.pem", b"x")
    assert not (tmp_path / "escape.pem").exists()
    assert (tmp_path / "root/pki/escape.pem/_versions.txt").is_file()


def test_serials_compare_as_numbers() -> None:
    assert serial_value("0A1B") == serial_value("a1b") == serial_value("0a:1b") == 0xA1B
    assert serial_value("-") is None and serial_value("XYZ") is None


def test_bundle_diff_by_fingerprint() -> None:
    a = {"s": "CN=A", "serial": "01", "sha256": "AA"}
    b = {"s": "CN=B", "serial": "02", "sha256": "BB"}
    ca = {k if k != "s" else "subject": v for k, v in a.items()}
    cb = {k if k != "s" else "subject": v for k, v in b.items()}
    diff = bundle_diff({"AA": ca}, {"BB": cb})
    assert diff == {"added": [cb], "removed": [ca]}
    assert bundle_diff({"AA": ca}, {"AA": ca}) == {"added": [], "removed": []}
