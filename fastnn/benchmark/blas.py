"""Which CPU and which BLAS kernels a benchmark ran on, and whether OpenBLAS was pinned low.

Every number ``fastnn bench`` prints is a multiple of BLAS products, so it reports the CPU
(model and widest SIMD) and each loaded BLAS as threadpoolctl sees it: numpy's OpenBLAS
and the ``scipy-openblas32`` library fastnn's numba path calls (``kernels/openblas.py``).
OpenBLAS picks its kernels for the CPU at load time unless ``OPENBLAS_CORETYPE`` names a
core (or ``OPENBLAS_L2_SIZE`` fixes the cache size it blocks for): a machine set up with,
say, ``OPENBLAS_CORETYPE=Haswell`` on an AVX-512 CPU runs every product on AVX2 kernels,
and every number is capped. :func:`pinned_warnings` says so, naming what to unset for the
benchmark command only. All detection takes its inputs as arguments (flags, threadpoolctl
entries, environment) so that it is tested without touching the real ones.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence

PIN_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
SIMD_LEVELS = ("SSE", "AVX", "AVX2", "AVX-512")  # widest last
_FLAG_LEVELS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"))
# OpenBLAS core names (openblas_get_corename, lower case) by the widest SIMD they use.
_CORE_LEVELS = {
    "AVX-512": ("skylakex", "cooperlake", "sapphirerapids"),
    "AVX2": ("haswell", "zen", "excavator"),
    "AVX": ("sandybridge", "bulldozer", "piledriver", "steamroller"),
    "SSE": ("prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "opteron",
            "barcelona", "bobcat", "nano", "katmai", "coppermine", "northwood"),
}


def cpu_info(cpuinfo: str | None = None) -> dict:
    """{"model", "simd"} from /proc/cpuinfo's text (read if None; elsewhere the platform's
    processor name and numpy's CPU feature table): simd is one of SIMD_LEVELS or
    "unknown"."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            cpuinfo = ""
    fields = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    model = fields.get("model name") or platform.processor() or platform.machine()
    if "flags" in fields:
        return {"model": model, "simd": simd_level(fields["flags"].split())}
    return {"model": model, "simd": simd_level(_numpy_features())}


def simd_level(flags: Sequence[str]) -> str:
    """The widest x86 SIMD among CPU ``flags`` (/proc/cpuinfo spelling, any case)."""
    present = {flag.lower() for flag in flags}
    if not present:
        return "unknown"
    for flag, level in _FLAG_LEVELS:
        if flag in present:
            return level
    return "SSE" if "sse2" in present else "unknown"


def _numpy_features() -> list[str]:
    """numpy's own CPU feature detection, as flag names (empty if unavailable)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:
        return []
    return [name for name, present in features.items() if present]


def core_level(architecture: str | None) -> str | None:
    """The widest SIMD an OpenBLAS core name uses, or None if it is not known here."""
    name = (architecture or "").lower()
    for level, cores in _CORE_LEVELS.items():
        if name in cores:
            return level
    return None


def blas_libraries(entries: Sequence[Mapping] | None = None) -> list[dict]:
    """The BLAS entries of threadpoolctl's ``threadpool_info()`` (loaded after
    fastnn's numba BLAS, ``kernels/openblas.py``, if None): name (numpy's or
    scipy-openblas32, by file path), internal_api, version, architecture, num_threads."""
    if entries is None:
        from threadpoolctl import threadpool_info

        from fastnn.kernels.openblas import load

        load()
        entries = threadpool_info()
    libraries = []
    for entry in entries:
        if entry.get("user_api") != "blas":
            continue
        path = str(entry.get("filepath", ""))
        name = ("numpy" if "numpy" in path else "scipy-openblas32 (fastnn numba)"
                if "scipy_openblas32" in path else os.path.basename(path) or "?")
        libraries.append({"name": name, **{key: entry.get(key) for key in (
            "internal_api", "version", "architecture", "num_threads")}})
    return libraries


def pinned_warnings(cpu: Mapping, libraries: Sequence[Mapping],
                    environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per reason the BLAS numbers are capped: a PIN_VARIABLES entry set in
    ``environ`` (default ``os.environ``), or an OpenBLAS whose architecture uses less
    SIMD than the CPU has. Empty if nothing is wrong (or nothing can be judged)."""
    environ = os.environ if environ is None else environ
    reasons = [f"{name}={environ[name]} is set" for name in PIN_VARIABLES if environ.get(name)]
    cpu_rank = _rank(cpu.get("simd"))
    for library in libraries:
        level = core_level(library.get("architecture"))
        if cpu_rank is not None and level is not None and _rank(level) < cpu_rank:
            reasons.append(f"{library['name']} runs {library['architecture']} kernels "
                           f"({level}) on a {cpu['simd']} CPU")
    if not reasons:
        return []
    return [f"warning: OpenBLAS is pinned below this CPU ({'; '.join(reasons)}): every "
            f"number here is capped; unset {' and '.join(PIN_VARIABLES)} for the benchmark "
            f"command only, e.g. env -u {' -u '.join(PIN_VARIABLES)} fastnn bench"]


def _rank(level: str | None) -> int | None:
    return SIMD_LEVELS.index(level) if level in SIMD_LEVELS else None


def format_report(cpu: Mapping, libraries: Sequence[Mapping],
                  peers: Mapping[str, str] | None = None) -> list[str]:
    """The report's lines: the CPU, each BLAS, then each peer's own (``peers``: name to
    its one-line description)."""
    lines = [f"CPU: {cpu['model']}, widest SIMD {cpu['simd']}"]
    for lib in libraries:
        lines.append(f"BLAS {lib['name']}: {lib['internal_api']} {lib['version']}, "
                     f"architecture {lib['architecture']}, {lib['num_threads']} threads")
    lines += [f"peer {name}: {text}" for name, text in (peers or {}).items()]
    return lines


def peer_libraries(peer: str, ready: Mapping) -> list[dict]:
    """The threadpoolctl entries of a peer's ready line, named for :func:`pinned_warnings`."""
    return [{"name": f"{peer}'s {item.get('internal_api')}", **item}
            for item in ready.get("blas") or [] if isinstance(item, Mapping)]


def describe_peer_blas(ready: Mapping) -> str:
    """A peer's ready line's ``blas`` list (threadpoolctl entries, or backend strings) as
    one line."""
    parts = []
    for item in ready.get("blas") or ["not reported"]:
        if isinstance(item, Mapping):
            parts.append(f"{item.get('internal_api')} {item.get('version')} "
                         f"({item.get('architecture')})")
        else:
            parts.append(str(item))
    return "; ".join(parts)
