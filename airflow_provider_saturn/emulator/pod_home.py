"""A runner-mode pod's ``$HOME``: a fresh private temporary directory holding the job's ``config_files``.

Saturn writes each ``config_files`` entry to ``$HOME/<path>`` when a pod starts. Here a path must stay inside
the home: relative, made of plain names (no ``..``, ``.`` or empty parts), and never written through a symlink
(each directory is made or checked without following links, each file opened with ``O_NOFOLLOW | O_EXCL``).
A mode is an octal string of at most ``0777`` (no setuid, setgid or sticky bit). ``working_dir`` is made
under the home when relative; Saturn's home, ``/home/jovyan``, maps onto it.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SATURN_HOME = "/home/jovyan"
"""``$HOME`` in a Saturn pod: an absolute ``working_dir`` under it is made under the emulated home instead."""
HOME_PREFIX = "saturn-emulator-home-"
MAX_CONFIG_FILES = 1000
MAX_PATH_CHARS = 1024
MAX_MODE = 0o777


class ConfigFileError(ValueError):
    """A ``config_files`` entry or ``working_dir`` the emulator refuses to write; the message names the path."""


def parse_mode(text: str) -> int:
    """The permission bits of an octal mode string (``"0644"``, ``"755"``); refuses anything over ``0777``."""
    digits = text[2:] if text.lower().startswith("0o") else text
    if not 1 <= len(digits) <= 4 or any(char not in "01234567" for char in digits) or int(digits, 8) > MAX_MODE:
        raise ConfigFileError(f"mode {text!r}: an octal mode from 0000 to 0777")
    return int(digits, 8)


def _parts(path: str, field: str) -> list[str]:
    """The names a path relative to the home is made of; refuses one that could leave it."""
    if not isinstance(path, str) or not path or len(path) > MAX_PATH_CHARS or "\x00" in path:
        raise ConfigFileError(f"{field} {path!r}: a relative path of 1 to {MAX_PATH_CHARS} characters")
    parts = path.split("/")
    if path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ConfigFileError(f"{field} {path!r}: must stay in $HOME (relative, without '..', '.' or '//')")
    return parts


def check_config_files(files: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse ``config_files`` whose paths leave ``$HOME`` or whose modes are not plain permission bits."""
    if len(files) > MAX_CONFIG_FILES:
        raise ConfigFileError(f"at most {MAX_CONFIG_FILES} files")
    for path, entry in files.items():
        _parts(path, "path")
        try:
            parse_mode(str(entry.get("mode", "0644")))
        except ConfigFileError as error:
            raise ConfigFileError(f"{path!r}: {error}") from None


def check_working_dir(working_dir: str) -> None:
    """Refuse a relative ``working_dir`` that leaves ``$HOME`` (an absolute one is checked when a pod starts)."""
    if working_dir and not working_dir.startswith("/"):
        _parts(working_dir.rstrip("/"), "working_dir")


def _directory(parent: Path, name: str) -> Path:
    """``parent/name``, made if missing; refused if it is a symlink or not a directory."""
    path = parent / name
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise ConfigFileError(f"{path.name!r} is a symlink or a file, not a directory") from None
    return path


def _inside(home: Path, parts: list[str]) -> Path:
    """The directory ``home/parts...``, each part made or checked without following a link."""
    directory = home
    for name in parts:
        directory = _directory(directory, name)
    return directory


def write_config_files(home: Path, files: Mapping[str, Mapping[str, Any]]) -> None:
    """Write each file under ``home`` with its mode; a ``ConfigFileError`` (naming the path) for one refused."""
    check_config_files(files)
    for path, entry in files.items():
        *directories, name = _parts(path, "path")
        try:
            target = _inside(home, directories) / name
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except ConfigFileError as error:
            raise ConfigFileError(f"config_files {path!r}: {error}") from None
        except OSError as error:
            raise ConfigFileError(f"config_files {path!r}: cannot be written ({error.strerror})") from None
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(str(entry.get("content", "")))
            os.fchmod(file.fileno(), parse_mode(str(entry.get("mode", "0644"))))


def working_directory(home: Path, working_dir: str) -> Path:
    """Where the pod's commands run: made under ``home`` if relative or under Saturn's ``/home/jovyan``; an
    other absolute ``working_dir`` must already be a directory of this machine (never made here)."""
    if working_dir == SATURN_HOME or working_dir.startswith(SATURN_HOME + "/"):
        working_dir = working_dir[len(SATURN_HOME) :].strip("/")
    if not working_dir.startswith("/"):
        relative = working_dir.rstrip("/")
        return _inside(home, _parts(relative, "working_dir")) if relative else home
    if not Path(working_dir).is_dir():
        raise ConfigFileError(f"working_dir {working_dir!r}: no such directory on the emulator's machine")
    return Path(working_dir)


def make_home(root: Path) -> Path:
    """A fresh private (0700) directory under ``root`` with a ``tmp`` directory in it (the pod's ``TMPDIR``)."""
    home = Path(tempfile.mkdtemp(prefix=HOME_PREFIX, dir=root))
    os.mkdir(home / "tmp", 0o700)
    return home


def remove_home(home: Path) -> None:
    """Remove the home and everything in it, whatever modes the pod left (missing: nothing to do).

    Directories get their permissions back first (never through a symlink: a link is removed, not followed).
    """
    if not home.is_dir() or home.is_symlink():
        return
    os.chmod(home, 0o700)
    for directory, names, _ in os.walk(home):
        for name in names:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chmod(path, 0o700)
    shutil.rmtree(home)
