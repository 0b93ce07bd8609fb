"""BinaryCache: the key covers every build input; entries are bounded in bytes, LRU first out."""

from __future__ import annotations

import os
from pathlib import Path

from gosandbox.binary_cache import BinaryCache

FILES = {"main.go": "package main\n\nfunc main() {}\n", "go.mod": "module sandbox\n\ngo 1.27\n"}


def make_cache(directory: Path, max_bytes: int = 1024, identity: str = "builder@sha256:1|-trimpath") -> BinaryCache:
    return BinaryCache(directory, max_bytes=max_bytes, build_identity=identity)


def test_key_is_stable(tmp_path: Path) -> None:
    key = make_cache(tmp_path / "a").key(FILES, "go1.27.3")
    assert key == make_cache(tmp_path / "b").key(dict(FILES), "go1.27.3")
    assert len(key) == 64
    assert int(key, 16) >= 0  # hexadecimal


def test_key_ignores_the_order_of_files(tmp_path: Path) -> None:
    cache = make_cache(tmp_path)
    reordered = dict(reversed(list(FILES.items())))
    assert list(reordered) != list(FILES)
    assert cache.key(reordered, "go1.27.3") == cache.key(FILES, "go1.27.3")


def test_key_changes_with_file_content(tmp_path: Path) -> None:
    cache = make_cache(tmp_path)
    changed = {**FILES, "main.go": FILES["main.go"] + "// x\n"}
    assert cache.key(changed, "go1.27.3") != cache.key(FILES, "go1.27.3")


def test_key_changes_with_file_name(tmp_path: Path) -> None:
    cache = make_cache(tmp_path)
    renamed = {"app.go": FILES["main.go"], "go.mod": FILES["go.mod"]}
    assert cache.key(renamed, "go1.27.3") != cache.key(FILES, "go1.27.3")


def test_key_changes_with_an_added_file(tmp_path: Path) -> None:
    cache = make_cache(tmp_path)
    assert cache.key({**FILES, "util.go": ""}, "go1.27.3") != cache.key(FILES, "go1.27.3")


def test_key_separates_names_from_contents(tmp_path: Path) -> None:
    # Moving bytes between a name and a content, or between two files, must not collide.
    cache = make_cache(tmp_path)
    assert cache.key({"a.go": "bc"}, "go") != cache.key({"a.gob": "c"}, "go")
    assert cache.key({"a.go": "xy", "b.go": ""}, "go") != cache.key({"a.go": "x", "b.go": "y"}, "go")


def test_key_changes_with_go_version(tmp_path: Path) -> None:
    cache = make_cache(tmp_path)
    assert cache.key(FILES, "go1.27.3") != cache.key(FILES, "go1.27.4")


def test_key_changes_with_build_identity(tmp_path: Path) -> None:
    one = make_cache(tmp_path / "a", identity="image-1")
    other = make_cache(tmp_path / "b", identity="image-2")
    assert one.key(FILES, "go1.27.3") != other.key(FILES, "go1.27.3")


def test_key_does_not_confuse_identity_and_go_version(tmp_path: Path) -> None:
    one = make_cache(tmp_path / "a", identity="ab")
    other = make_cache(tmp_path / "b", identity="a")
    assert one.key(FILES, "c") != other.key(FILES, "bc")


def test_get_of_a_missing_key_is_none(tmp_path: Path) -> None:
    assert make_cache(tmp_path).get("0" * 64) is None


def test_put_then_get(tmp_path: Path) -> None:
    cache = make_cache(tmp_path)
    key = cache.key(FILES, "go1.27.3")
    binary = b"\x7fELF\x00\x01binary"
    cache.put(key, binary)
    assert cache.get(key) == binary
    assert (tmp_path / f"{key}.bin").read_bytes() == binary


def test_put_replaces_an_entry(tmp_path: Path) -> None:
    cache = make_cache(tmp_path)
    cache.put("k", b"old")
    cache.put("k", b"new")
    assert cache.get("k") == b"new"


def test_no_temporary_files_are_left(tmp_path: Path) -> None:
    cache = make_cache(tmp_path)
    cache.put("k", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.bin"]


def test_the_directory_is_created(tmp_path: Path) -> None:
    directory = tmp_path / "state" / "binaries"
    make_cache(directory)
    assert directory.is_dir()


def test_a_binary_larger_than_the_cache_is_not_stored(tmp_path: Path) -> None:
    cache = make_cache(tmp_path, max_bytes=10)
    cache.put("big", b"x" * 11)
    assert cache.get("big") is None
    assert not (tmp_path / "big.bin").exists()


def test_least_recently_used_goes_first(tmp_path: Path) -> None:
    cache = make_cache(tmp_path, max_bytes=10)
    cache.put("a", b"aaaa")
    cache.put("b", b"bbbb")
    assert cache.get("a") == b"aaaa"  # now b is the least recently used
    cache.put("c", b"cccc")  # 12 bytes > 10: one must go
    assert cache.get("b") is None
    assert not (tmp_path / "b.bin").exists()
    assert cache.get("a") == b"aaaa"
    assert cache.get("c") == b"cccc"


def test_eviction_frees_enough_bytes(tmp_path: Path) -> None:
    cache = make_cache(tmp_path, max_bytes=10)
    for name in "abcde":
        cache.put(name, b"xx")
    cache.put("big", b"y" * 7)  # 17 bytes: a, b, c and d must go, e stays
    assert [name for name in "abcde" if cache.get(name) is not None] == ["e"]
    assert cache.get("big") == b"y" * 7
    assert sum(p.stat().st_size for p in tmp_path.glob("*.bin")) <= 10


def test_entries_survive_reopening_the_directory(tmp_path: Path) -> None:
    first = make_cache(tmp_path)
    key = first.key(FILES, "go1.27.3")
    first.put(key, b"binary")
    again = make_cache(tmp_path)
    assert again.get(key) == b"binary"
    assert again.key(FILES, "go1.27.3") == key


def test_reopening_with_a_smaller_budget_evicts_the_oldest(tmp_path: Path) -> None:
    first = make_cache(tmp_path, max_bytes=100)
    for age, name in enumerate(["old", "mid", "new"]):
        first.put(name, b"x" * 4)
        os.utime(tmp_path / f"{name}.bin", (1_000_000 + age, 1_000_000 + age))
    again = make_cache(tmp_path, max_bytes=8)
    assert again.get("old") is None
    assert not (tmp_path / "old.bin").exists()
    assert again.get("mid") == b"xxxx"
    assert again.get("new") == b"xxxx"


def test_a_file_removed_behind_the_caches_back_is_a_miss(tmp_path: Path) -> None:
    cache = make_cache(tmp_path)
    cache.put("k", b"data")
    (tmp_path / "k.bin").unlink()
    assert cache.get("k") is None


def test_key_is_per_tenant(tmp_path: Path) -> None:
    """Issue 24: one tenant's binary is never another's cache hit (its speed would say what the other ran)."""
    cache = make_cache(tmp_path)
    keys = {cache.key(FILES, "go1.27.3", tenant=tenant) for tenant in ("", "key-a", "key-b")}
    assert len(keys) == 3
    assert cache.key(FILES, "go1.27.3", tenant="key-a") == cache.key(dict(FILES), "go1.27.3", tenant="key-a")
