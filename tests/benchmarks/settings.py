"""Workload sizes for the full benchmark (issue 5) and for the quick run that keeps it from rotting."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MIB = 1 << 20


@dataclass(frozen=True)
class Sizes:
    """How big each workload is and how often it is repeated."""

    #: (a) files uploaded from outside staging, 1-4 KiB each in nested directories.
    upload_files: int
    #: (b) bytes of the single uploaded file.
    upload_bytes: int
    #: (c) files of the version fetched into an empty cache.
    fetch_files: int
    #: (d) bytes of the single fetched file.
    fetch_bytes: int
    #: (e) repetitions of list versions + manifest + summary.
    metadata_repeats: int
    #: (e) versions in the asset whose metadata is read (the repetitions cycle over them).
    metadata_versions: int
    #: (f) entries of the typed manifest read from the local registry.
    manifest_entries: int
    #: (f) how often it is read per measurement.
    manifest_repeats: int
    #: (g) bytes of the file fetched in a child process.
    memory_fetch_bytes: int
    #: (g) small files uploaded in a child process.
    memory_upload_files: int
    #: (h) assets whose latest version and its manifest are read.
    latest_assets: int
    #: Rounds kept, after ``warmup`` discarded ones.
    rounds: int
    warmup: int
    #: ``--parallel-max`` values tried for curl (its best is the floor of c).
    curl_parallel: tuple[int, ...]
    #: ``concurrent=`` values tried for pygobbler's fetch_directory (its best is reported for c).
    pyg_concurrency: tuple[int, ...]
    #: (l) bytes of the file fetched as parallel ranges where that pays (against curl -o and aria2c).
    ranged_bytes: int = 64 * MIB
    #: (h) bytes of the file read whole through ``gobbler://`` and ranged from the middle.
    fs_big_bytes: int = 256 * MIB
    #: (h) files of the version ``fs.find`` walks.
    fs_find_files: int = 20_000
    #: (h) bytes of the CSV read by pandas.
    fs_csv_bytes: int = 50 * MIB
    #: (j) bytes of the Parquet file each engine queries.
    engine_parquet_bytes: int = 50 * MIB
    #: (s) files of the versions the scale workloads run at, one level each (``--scale-sizes``).
    scale_files: tuple[int, ...] = (1000, 10_000, 100_000)
    #: (s) cheap operations repeat within a measurement until it covers about this many items.
    scale_repeat_items: int = 20_000
    #: (s) measure peak memory at every level (else at the largest only: each is a fresh interpreter).
    scale_memory_everywhere: bool = True

    def to_json(self) -> dict[str, Any]:
        """Plain-data form for the JSON report."""
        return asdict(self)

    @property
    def scratch_bytes(self) -> int:
        """Rough upper bound of the disk space one run needs at once (sources, registry, copies, caches)."""
        small = 4096 * (self.upload_files + self.fetch_files + self.manifest_entries) * 4
        return 4 * self.upload_bytes + 5 * max(self.fetch_bytes, self.memory_fetch_bytes) + small + 256 * MIB

    @property
    def scale_bytes(self) -> int:
        """Rough upper bound of what the scale workloads (s) add: about eight copies of each level's files.

        Source, registry, the complete cache, a fetched cache, curl's copy, a staged copy and the uploads'
        registry copies, at one 4 KiB page of tmpfs for the data and one for the inode and directory entry.
        """
        return sum(self.scale_files) * 8 * 8192


#: ``--parallel-max`` values tried for curl when a network delay is added (``--latency``).
LATENCY_CURL_PARALLEL = (8, 64)
#: pygobbler's ``concurrent=`` values at latency: its best on loopback (1 and 2 take minutes at 20 ms).
LATENCY_PYG_CONCURRENCY = (8,)

FULL = Sizes(
    upload_files=2000,
    upload_bytes=512 * MIB,
    fetch_files=2000,
    fetch_bytes=256 * MIB,
    metadata_repeats=200,
    metadata_versions=5,
    manifest_entries=20_000,
    manifest_repeats=20,
    memory_fetch_bytes=256 * MIB,
    memory_upload_files=20_000,
    latest_assets=50,
    rounds=5,
    warmup=1,
    curl_parallel=(4, 8, 16),
    pyg_concurrency=(1, 2, 4, 8),
)

QUICK = Sizes(
    upload_files=60,
    upload_bytes=4 * MIB,
    fetch_files=40,
    fetch_bytes=4 * MIB,
    metadata_repeats=10,
    metadata_versions=2,
    manifest_entries=300,
    manifest_repeats=3,
    memory_fetch_bytes=4 * MIB,
    memory_upload_files=100,
    latest_assets=4,
    rounds=1,
    warmup=0,
    curl_parallel=(8,),
    pyg_concurrency=(1, 2),
    ranged_bytes=4 * MIB,
    fs_big_bytes=4 * MIB,
    fs_find_files=300,
    fs_csv_bytes=1 * MIB,
    engine_parquet_bytes=2 * MIB,
    scale_files=(100, 400),
    scale_repeat_items=500,
    scale_memory_everywhere=False,
)
