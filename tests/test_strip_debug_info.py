"""`scripts/strip_debug_info.py`: the image build's strip, held against binutils' on real wheels.

The wheels are those whose debug info a service's image drops (uvloop alone ships 14 MB), plus
cffi, whose symbol table names a debug section. binutils' `strip --strip-debug` and `readelf`
are the yardstick, and the host's Python imports and runs what was stripped.
"""

from __future__ import annotations

import re
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from .support import HOST_PYTHON, INTERPRETERS, UV, Render, attempt, run

# Pinned, so a new release without debug info cannot make the comparison say nothing.
WHEELS = ("uvloop==0.23.0", "pyyaml==6.0.4", "httptools==0.9.0", "websockets==17.4", "cffi==2.1.1")
# What each stripped extension must still do in the host's Python.
EXERCISE = """
import asyncio, _cffi_backend, httptools, uvloop, websockets.speedups, yaml
uvloop.run(asyncio.sleep(0))
assert yaml.load("a: [1]", Loader=yaml.CSafeLoader) == {"a": [1]}
httptools.HttpRequestParser(object()).feed_data(b"GET / HTTP/1.1\\r\\n\\r\\n")
assert _cffi_backend.FFI().sizeof("int") == 4
print("ran")
"""
ELF_SEGMENT = "<IIQQQQQQ"  # Elf64_Phdr, little-endian: the loader reads p_filesz at p_offset


def sections(path: Path) -> list[str]:
    """The section names, in order, as readelf reads them."""
    listing = run("readelf", "--section-headers", "--wide", path, cwd=path.parent).stdout
    return re.findall(r"^\s*\[\s*\d+\]\s+(\S*)", listing, re.MULTILINE)[1:]


def loaded_bytes(path: Path) -> list[bytes]:
    """The file's bytes that each program header maps into memory, but where the section headers
    are (e_shoff, e_shnum, e_shstrndx), which only tools read."""
    data = bytearray(path.read_bytes())
    data[0x28:0x30], data[0x3A:0x40] = bytes(8), bytes(6)
    phoff, phentsize, phnum = (
        struct.unpack_from("<Q", data, 0x20)[0],
        *struct.unpack_from("<HH", data, 0x36),
    )
    segments = [struct.unpack_from(ELF_SEGMENT, data, phoff + i * phentsize) for i in range(phnum)]
    return [bytes(data[offset : offset + filesz]) for _, _, offset, _, _, filesz, _, _ in segments]


def readelf_complaints(path: Path) -> str:
    """What readelf says is wrong with the file, reading every part of it."""
    complaints = attempt("readelf", "--all", "--wide", path, cwd=path.parent).stderr
    return complaints.replace(str(path), "FILE")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels' files, copied (never linked) out of uv's cache: strip writes to them."""
    if shutil.which("strip") is None or HOST_PYTHON not in INTERPRETERS:
        pytest.skip("needs binutils and a local Python " + HOST_PYTHON)
    target = tmp_path_factory.mktemp("wheels") / "site-packages"
    python = INTERPRETERS[HOST_PYTHON]
    run(UV, "pip", "install", "--quiet", "--link-mode", "copy", "--only-binary", ":all:",
        "--python", python, "--target", target, *WHEELS, cwd=target.parent)  # fmt: skip
    return target


@pytest.fixture
def strip_script(render: Render) -> Path:
    """The script as a service renders it."""
    return render(python_version=HOST_PYTHON) / "scripts" / "strip_debug_info.py"


@pytest.fixture
def strip_with(wheels: Path, tmp_path: Path) -> Callable[[str, list[str]], Path]:
    """A copy of the wheels, stripped by a command run on every extension (or on the folder)."""

    def strip(name: str, command: list[str]) -> Path:
        copy = shutil.copytree(wheels, tmp_path / name)
        extensions = sorted(copy.rglob("*.so"))
        run(*command, *(extensions if command[0] == "strip" else [copy]), cwd=tmp_path)
        return copy

    return strip


def test_it_drops_what_binutils_drops_and_keeps_what_the_loader_reads(
    wheels: Path, strip_script: Path, strip_with: Callable[[str, list[str]], Path]
) -> None:
    ours = strip_with("ours", [str(INTERPRETERS[HOST_PYTHON]), str(strip_script)])
    binutils = strip_with("binutils", ["strip", "--strip-debug"])
    extensions = sorted(path.relative_to(wheels) for path in wheels.rglob("*.so"))
    assert len(extensions) >= len(WHEELS)
    debug = [path for path in extensions if any(".debug" in s for s in sections(wheels / path))]
    assert {path.parts[0].split(".")[0] for path in debug} >= {"uvloop", "yaml", "_cffi_backend"}
    for path in extensions:
        assert sections(ours / path) == sections(binutils / path), path
        assert loaded_bytes(ours / path) == loaded_bytes(wheels / path), path
        assert readelf_complaints(ours / path) == readelf_complaints(wheels / path), path
    size = {
        tree: sum((tree / path).stat().st_size for path in extensions)
        for tree in (wheels, ours, binutils)
    }
    assert size[wheels] - size[binutils] > 14_000_000
    assert size[ours] <= size[binutils] * 1.01, size


def test_stripped_extensions_import_and_run(
    strip_script: Path, strip_with: Callable[[str, list[str]], Path]
) -> None:
    python = INTERPRETERS[HOST_PYTHON]
    ours = strip_with("ours", [str(python), str(strip_script)])
    ran = run(python, "-c", f"import sys; sys.path.insert(0, {str(ours)!r})\n" + EXERCISE, cwd=ours)
    assert ran.stdout == "ran\n"


def test_files_are_replaced_never_written_in_place(
    wheels: Path, strip_script: Path, tmp_path: Path
) -> None:
    # uv links a venv's files from its cache: a write in place would strip the cache too.
    tree = shutil.copytree(wheels, tmp_path / "venv")
    (extension,) = tree.glob("uvloop/loop.*.so")
    cached = tmp_path / "cache-entry.so"
    cached.hardlink_to(extension)
    before = cached.read_bytes()
    python = INTERPRETERS[HOST_PYTHON]
    run(python, strip_script, tree, cwd=tmp_path)
    assert cached.read_bytes() == before
    assert extension.stat().st_size < len(before) / 4
    assert extension.stat().st_mode == cached.stat().st_mode
    # A second run finds nothing left to drop.
    stripped = {path: path.read_bytes() for path in tree.rglob("*.so")}
    run(python, strip_script, tree, cwd=tmp_path)
    assert {path: path.read_bytes() for path in tree.rglob("*.so")} == stripped


def test_what_it_cannot_read_is_left_as_it_is(
    wheels: Path, strip_script: Path, tmp_path: Path
) -> None:
    (uvloop,) = wheels.glob("uvloop/loop.*.so")
    data = uvloop.read_bytes()
    odd = {
        "text.so": b"not an ELF file\n",
        "truncated.so": data[:200],
        "headers-cut-off.so": data[: len(data) - 64],
        "elf32.so": data[:4] + b"\x01" + data[5:4096],
        "empty.so": b"",
        "magic-only.so": data[:5],
    }
    folder = tmp_path / "odd"
    folder.mkdir()
    for name, content in odd.items():
        (folder / name).write_bytes(content)
    run(INTERPRETERS[HOST_PYTHON], strip_script, folder, cwd=tmp_path)
    assert {name: (folder / name).read_bytes() for name in odd} == odd


def test_without_a_folder_it_says_how_to_call_it(strip_script: Path, tmp_path: Path) -> None:
    result = attempt(INTERPRETERS[HOST_PYTHON], strip_script, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (1, "usage: strip_debug_info.py DIRECTORY...\n")
