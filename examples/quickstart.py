"""A tour of gobbler-sdk against a Gobbler service started just for it.

Run with ``make demo`` (or ``.venv/bin/python examples/quickstart.py``). The embedded service is used unless
``GOBBLER_BINARY`` names a real Gobbler executable.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path

from gobbler_sdk import GobblerClient, NotCachedError, PermissionDeniedError
from gobbler_sdk.testing import GobblerService


def make_dataset(root: Path) -> Path:
    """A small directory to upload: nested files, an empty directory, a symlink."""
    data = root / "dataset"
    (data / "tables").mkdir(parents=True)
    (data / "empty").mkdir()
    (data / "README.txt").write_text("Counts of things, by place.\n")
    (data / "tables" / "counts.csv").write_text("place,count\nnorth,12\nsouth,7\n")
    os.symlink("tables/counts.csv", data / "latest.csv")
    return data


def main() -> None:
    """Run the tour, printing each step."""
    with (
        GobblerService(binary=os.environ.get("GOBBLER_BINARY")) as service,
        tempfile.TemporaryDirectory() as tmp,
    ):
        print(f"service ({service.backend}) at {service.url}")
        print(f"  staging  {service.staging}\n  registry {service.registry}")
        data = make_dataset(Path(tmp))

        with GobblerClient(service.url, cache=Path(tmp) / "cache") as client:
            print(f"transport chosen automatically: {client.transport.kind}")

            project = client.create_project("demo", owners=[service.admin[0]])
            print(f"created {project!r}; owners {list(project.permissions().owners)}")

            asset = project.asset("counts")
            v1 = asset.upload("v1", data)
            manifest = v1.manifest()
            print(f"uploaded {v1!r}: {len(manifest)} entries, {manifest.total_size} bytes")
            for path, entry in manifest.items():
                kind = "dir " if entry.is_directory else "link" if entry.link else "file"
                print(f"  {kind} {path:<20} {entry.size:>4} B {entry.md5sum}")

            (data / "tables" / "counts.csv").write_text("place,count\nnorth,13\nsouth,7\nwest,2\n")
            v2 = asset.upload("v2", data)
            print(f"uploaded {v2!r}; unchanged files became links: {sorted(v2.manifest().linked())}")
            print(f"versions {[v.name for v in asset.versions()]}, latest {asset.latest()!r}")
            print(f"project usage {project.usage()} bytes")

            local = v2.fetch("tables/counts.csv")
            print(f"local read  {local}: {local.read_text().splitlines()[-1]!r}")
            remote = v2.fetch("tables/counts.csv", force_remote=True)
            print(f"remote read {remote}: {remote.read_text().splitlines()[-1]!r}")
            copy = v2.fetch_directory(force_remote=True)
            print(f"whole version cached at {copy}: {sorted(p.name for p in copy.iterdir())}")

            trial = asset.upload("v3-trial", data, probation=True)
            probational = trial.summary().on_probation
            print(f"uploaded {trial!r} on probation: {probational}; latest still {asset.latest()!r}")
            trial.approve()
            print(f"approved: on probation {trial.summary().on_probation}")
            rejected = asset.upload("v4-trial", data, probation=True)
            rejected.reject()
            print(f"rejected {rejected!r}: exists {rejected.exists()}")

            project.set_permissions(uploaders=[{"id": "bob", "trusted": False}])
            print(
                f"uploaders now {[u.model_dump(exclude_none=True) for u in project.permissions().uploaders]}"
            )
            try:
                asset.upload("v5", data, spoof="mallory")
            except PermissionDeniedError as exc:
                print(f"spoofing without permission is refused: HTTP {exc.status}")

            clone_dir = Path(tmp) / "clone"
            v2.clone(clone_dir)
            (clone_dir / "NOTES.txt").write_text("only this file is new\n")
            v5 = asset.upload("v5", clone_dir)
            new_bytes = v5.manifest().stored_size
            print(f"cloned v2 into {v5!r}: {new_bytes} new bytes, the rest are links")

            # Large downloads show a progress bar (bytes, rate, time left) when stderr is a terminal.
            raw = Path(tmp) / "raw"
            raw.mkdir()
            (raw / "reads.bin").write_bytes(os.urandom(16 << 20))
            big = project.asset("raw").upload("v1", raw)
            big.fetch_directory(force_remote=True)
            subset = v2.fetch_directory(
                force_remote=True, local_dir=Path(tmp) / "mine", allow_patterns="*.csv"
            )
            copied = sorted(str(p.relative_to(subset)) for p in subset.rglob("*.csv"))
            print(f"csv files copied to a directory of mine: {copied}")
            print("the download cache:")
            print(textwrap.indent(str(client.cache.scan()), "  "))

            with GobblerClient(service.url, cache=Path(tmp) / "cache", offline=True) as offline:
                cached = offline.project("demo").asset("counts").version("v2")
                last_line = cached.fetch("tables/counts.csv").read_text().splitlines()[-1]
                print(f"offline read of a cached file: {last_line!r}")
                try:
                    offline.project("demo").asset("counts").version("v1").fetch("README.txt")
                except NotCachedError as exc:
                    print(f"offline, uncached: {type(exc).__name__}")
            print(f"pruned: {client.cache.prune(max_size=1 << 20)!r}")

            project.remove()
            print(f"removed the project: exists {project.exists()}")


if __name__ == "__main__":
    main()
