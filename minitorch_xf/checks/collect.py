"""Collecting submissions: one per entry of a folder or a ``.zip`` (a notebook, or a student's folder holding one).

Every entry gets a :class:`Submission`, graded or not (``problem`` says why not). Names are what the gradebook
shows, so they are made unambiguous here: a name that is not valid UTF-8 is shown with U+FFFD, names that read the
same (two spellings of "José", NFC and NFD) get distinct rows ``José.ipynb`` and ``José.ipynb [2]``, and an archive
that holds one path twice keeps both files (the second renamed); each such row carries a note.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .boundary import display_name, printable

__all__ = ["Submission", "discover", "extract_zip"]


@dataclass
class Submission:
    name: str  # as shown in the gradebook: NFC text, unique within the batch
    path: str | None  # the notebook to grade (as the file system names it), or None when there is none
    problem: str = ""  # why there is nothing to grade
    notes: list[str] = field(default_factory=list)  # about its name or its place in the archive


def _visible(name: str) -> bool:
    return not name.startswith(".") and name != "__MACOSX"


def _notebooks(folder: str) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):  # does not follow symbolic links
        dirnames[:] = sorted(d for d in dirnames if _visible(d) and d != ".ipynb_checkpoints")
        for f in sorted(filenames):
            path = os.path.join(dirpath, f)
            if f.endswith(".ipynb") and _visible(f) and os.path.isfile(path) and not os.path.islink(path):
                found.append(path)
    return found


def _entry(raw: str, path: str, reference_name: str) -> Submission:
    name, notes = display_name(raw)
    if os.path.islink(path):
        return Submission(name, None, "a symbolic link, not a notebook", notes)
    if os.path.isfile(path):
        if not raw.endswith(".ipynb"):
            ext = os.path.splitext(name)[1] or "no extension"
            return Submission(name, None, f"not a notebook: expected a .ipynb file, got {printable(ext, 40)!r}", notes)
        return Submission(name, path, "", notes)
    if os.path.isdir(path):
        notebooks = _notebooks(path)
        named = [p for p in notebooks if os.path.basename(p) == reference_name]
        if len(named) == 1 or len(notebooks) == 1:
            return Submission(name, (named or notebooks)[0], "", notes)
        if not notebooks:
            return Submission(name, None, "no .ipynb notebook in this folder", notes)
        listed = ", ".join(display_name(os.path.basename(p))[0] for p in notebooks[:5])
        return Submission(name, None, f"several notebooks ({printable(listed)}); none is {reference_name}", notes)
    return Submission(name, None, "not a file or a folder", notes)


def discover(root: Path, reference_name: str, notes_for: dict[str, str] | None = None) -> list[Submission]:
    """One :class:`Submission` per entry of ``root`` (or ``root`` itself, a notebook), with unique names.

    ``notes_for``: notes about paths under ``root`` (from :func:`extract_zip`), attached to the entry holding them."""
    root = Path(root)
    if root.is_file():
        subs = [_entry(root.name, str(root), reference_name)]
        entries = [str(root)]
    else:
        raw = os.fsencode
        names = sorted((n for n in os.listdir(root) if _visible(n)), key=lambda n: (display_name(n)[0], raw(n)))
        entries = [os.path.join(root, n) for n in names]
        subs = [_entry(n, p, reference_name) for n, p in zip(names, entries, strict=True)]
    for sub, entry in zip(subs, entries, strict=True):
        for path, note in (notes_for or {}).items():
            if (path == entry or path.startswith(entry + os.sep)) and note not in sub.notes:
                sub.notes.append(note)
    _disambiguate(subs)
    return subs


def _disambiguate(subs: list[Submission]) -> None:
    """Names that read the same (NFC-equal, or equal after U+FFFD replaced undecodable bytes) get suffixes
    ``[2]``, ``[3]``, ... and a note on every one of them."""
    groups: dict[str, list[Submission]] = {}
    for sub in subs:
        groups.setdefault(sub.name, []).append(sub)
    taken = set(groups)
    for name, same in groups.items():
        if len(same) < 2:
            continue
        shown = printable(name, 120)
        for i, sub in enumerate(same, start=1):
            if i > 1:
                k = i
                while f"{name} [{k}]" in taken:
                    k += 1
                sub.name = f"{name} [{k}]"
                taken.add(sub.name)
            sub.notes.append(
                f"{len(same)} submissions are named {shown!r} once their names are normalised (Unicode "
                "normalisation, or bytes that are not UTF-8): each has its own row; check which student is which"
            )


def extract_zip(
    archive: Path, into: Path, max_bytes: int = 1 << 30, max_files: int = 20_000
) -> tuple[Path, dict[str, str]]:
    """Unpack an uploaded archive safely (no absolute paths, no ``..``, no links, capped size).

    Returns its root and notes by extracted path: an entry whose path the archive holds twice is kept twice (the
    second as ``name (duplicate 2).ext``), and both are noted; an entry that cannot be unpacked is noted too."""
    notes: dict[str, str] = {}
    seen: dict[tuple[str, ...], int] = {}
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        if len(members) > max_files or sum(m.file_size for m in members) > max_bytes:
            raise ValueError(f"{archive.name}: more than {max_files} files or {max_bytes >> 20} MiB unpacked")
        for m in members:
            parts = PurePosixPath(m.filename.replace("\\", "/")).parts
            if m.filename.startswith("/") or ".." in parts or (m.external_attr >> 16) & 0o170000 == 0o120000:
                continue  # skipped: absolute, escaping or a symbolic link
            if not parts:
                continue
            target = into.joinpath(*parts)
            if m.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            count = seen[parts] = seen.get(parts, 0) + 1
            shown = printable(m.filename, 120)
            if count > 1:
                first = str(target)
                target = target.with_name(f"{target.stem} (duplicate {count}){target.suffix}")
                note = f"the archive holds {shown!r} more than once: every copy is graded under its own row"
                notes[first] = notes[str(target)] = note
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(m) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
                notes[str(target)] = f"the archive's entry {shown!r} could not be unpacked ({printable(err, 200)})"
                target.unlink(missing_ok=True)
    entries = [p for p in into.iterdir() if _visible(p.name)]
    root = entries[0] if len(entries) == 1 and entries[0].is_dir() else into
    return root, notes
