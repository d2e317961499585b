"""What ``pip install -e ".[<extras>]"`` puts on disk: the installed distributions that lit-gans with those extras
requires (the dependency closure, read from the installed packages' metadata), and their size on disk.

    python benchmarks/install_size.py                 # lit-gans[embedded], the README's quick start
    python benchmarks/install_size.py test            # lit-gans[test]

Prints the total, the share of the NVIDIA CUDA libraries (``nvidia-*`` wheels: the default Linux PyTorch wheel is a
CUDA build and pulls them even on a machine without a GPU), and the largest distributions. Sizes are the files
each distribution's ``RECORD`` lists (as installed, not the downloaded archives). Run it in the environment the
README's install created.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(root: str, extras: set[str]) -> dict[str, metadata.Distribution]:
    """Installed distributions needed by ``root[extras]`` (markers evaluated for this interpreter)."""
    dists = {canonical(d.metadata["Name"]): d for d in metadata.distributions()}
    seen: dict[str, metadata.Distribution] = {}
    todo = [(canonical(root), frozenset(extras))]
    done: set[tuple[str, frozenset]] = set()
    while todo:
        name, want = todo.pop()
        if (name, want) in done or name not in dists:
            continue
        done.add((name, want))
        dist = dists[name]
        seen[name] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is not None:
                envs = [dict(default_environment(), extra=e) for e in (want or {""})]
                if not any(req.marker.evaluate(env) for env in envs):
                    continue
            todo.append((canonical(req.name), frozenset(req.extras)))
    return seen


def size_on_disk(dist: metadata.Distribution) -> int:
    total = 0
    for f in dist.files or []:
        path = Path(dist.locate_file(f))
        if path.is_file():
            total += path.stat().st_size
    return total


def main(argv: list[str] | None = None) -> int:
    extras = set((argv if argv is not None else sys.argv[1:]) or ["embedded"])
    dists = closure("lit-gans", extras)
    if "lit-gans" not in dists:
        print("install_size: lit-gans is not installed in this environment (pip install -e .)", file=sys.stderr)
        return 2
    sizes = {name: size_on_disk(d) for name, d in dists.items() if name != "lit-gans"}
    total = sum(sizes.values())
    cuda = sum(s for n, s in sizes.items() if n.startswith("nvidia-"))
    mib = 1024 ** 2
    torch_version = dists["torch"].version if "torch" in dists else "-"
    print(f"lit-gans[{','.join(sorted(extras))}]: {len(sizes)} distributions, {total / mib / 1024:.2f} GiB installed; "
          f"NVIDIA CUDA libraries (nvidia-*): {cuda / mib / 1024:.2f} GiB; torch {torch_version}")
    print("\n| distribution | version | MiB |\n|---|---|---|")
    for name, s in sorted(sizes.items(), key=lambda kv: -kv[1])[:15]:
        print(f"| {name} | {dists[name].version} | {s / mib:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
