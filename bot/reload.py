"""Hot reload of rules/ and runbooks/: polled (works with mounted config maps, whose files
are swapped through symlinks) and on SIGHUP. A broken edit keeps the last good config."""

from __future__ import annotations

from pathlib import Path

Fingerprint = tuple[tuple[str, int, int], ...]


def config_fingerprint(config_dir: Path) -> Fingerprint:
    out = []
    for folder in ("rules", "runbooks"):
        root = config_dir / folder
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            try:
                stat = path.stat()  # follows symlinks: a swapped target changes it
            except OSError:
                continue
            if path.is_file():
                out.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(out)
