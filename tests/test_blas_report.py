"""``fastnn.benchmark.blas``: the CPU's widest SIMD, the BLAS entries and the pinned-OpenBLAS
warning, from fake /proc/cpuinfo text, fake threadpoolctl entries and fake environments.
The real environment is never changed: the variables are only read."""

import os

import pytest

from fastnn.benchmark import blas

AVX512_CPU = """processor\t: 0
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq avx512bw
processor\t: 1
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq avx512bw
"""
AVX2_CPU = "model name\t: Intel(R) Xeon(R) CPU E5-2680 v4\nflags\t\t: sse2 avx avx2 fma\n"


def entry(architecture, path="/site-packages/numpy.libs/libscipy_openblas64_.so"):
    return {"user_api": "blas", "internal_api": "openblas", "version": "0.3.31",
            "architecture": architecture, "num_threads": 2, "filepath": path,
            "prefix": "libscipy_openblas"}


NUMPY = entry("SkylakeX")
NUMBA = entry("SkylakeX", "/site-packages/scipy_openblas32/lib/libscipy_openblas.so")
OPENMP = {"user_api": "openmp", "internal_api": "openmp", "version": None,
          "filepath": "/usr/lib/libgomp.so.1", "num_threads": 2}


def test_cpu_model_and_widest_simd_from_cpuinfo():
    assert blas.cpu_info(AVX512_CPU) == {"model": "AMD EPYC 9R14", "simd": "AVX-512"}
    assert blas.cpu_info(AVX2_CPU)["simd"] == "AVX2"
    assert blas.simd_level(["SSE2", "AVX"]) == "AVX" and blas.simd_level(["sse2"]) == "SSE"
    assert blas.simd_level([]) == "unknown" and blas.simd_level(["neon"]) == "unknown"


def test_the_real_cpu_is_described():
    cpu = blas.cpu_info()
    assert cpu["model"] and cpu["simd"] in (*blas.SIMD_LEVELS, "unknown")


def test_blas_entries_are_named_by_library():
    libraries = blas.blas_libraries([NUMPY, OPENMP, NUMBA])
    assert [lib["name"] for lib in libraries] == ["numpy", "scipy-openblas32 (fastnn numba)"]
    assert libraries[0] == {"name": "numpy", "internal_api": "openblas", "version": "0.3.31",
                            "architecture": "SkylakeX", "num_threads": 2}


def test_the_real_blas_libraries_include_fastnns_numba_blas():
    names = [lib["name"] for lib in blas.blas_libraries()]
    assert "scipy-openblas32 (fastnn numba)" in names and "numpy" in names


def test_nothing_is_wrong_with_matching_kernels_and_a_clean_environment():
    cpu = blas.cpu_info(AVX512_CPU)
    assert blas.pinned_warnings(cpu, blas.blas_libraries([NUMPY, NUMBA]), {}) == []
    avx2 = blas.cpu_info(AVX2_CPU)
    assert blas.pinned_warnings(avx2, blas.blas_libraries([entry("Haswell")]), {}) == []


@pytest.mark.parametrize("variable", blas.PIN_VARIABLES)
def test_a_pinning_variable_is_warned_about(variable):
    cpu = blas.cpu_info(AVX512_CPU)
    [line] = blas.pinned_warnings(cpu, blas.blas_libraries([NUMPY]), {variable: "Haswell"})
    assert line.startswith("warning:") and f"{variable}=Haswell is set" in line
    assert "capped" in line and "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE" in line
    assert "for the benchmark command only" in line and "\n" not in line


def test_an_architecture_below_the_cpu_is_warned_about():
    cpu = blas.cpu_info(AVX512_CPU)
    libraries = blas.blas_libraries([entry("Haswell"), NUMBA])
    [line] = blas.pinned_warnings(cpu, libraries, {})
    assert "numpy runs Haswell kernels (AVX2) on a AVX-512 CPU" in line
    assert "scipy-openblas32" not in line
    both = blas.pinned_warnings(cpu, libraries, {"OPENBLAS_CORETYPE": "Haswell"})
    assert len(both) == 1 and "OPENBLAS_CORETYPE=Haswell is set; numpy runs" in both[0]


def test_unknown_architectures_or_cpus_are_not_judged():
    unknown_cpu = {"model": "?", "simd": "unknown"}
    assert blas.pinned_warnings(unknown_cpu, blas.blas_libraries([entry("Haswell")]), {}) == []
    arm = blas.blas_libraries([entry("NeoverseN1")])
    assert blas.pinned_warnings(blas.cpu_info(AVX512_CPU), arm, {}) == []
    assert blas.core_level("SAPPHIRERAPIDS") == "AVX-512" and blas.core_level(None) is None


def test_the_real_environment_is_read_by_default():
    # Read, never changed: OPENBLAS_CORETYPE is not set or unset by any test.
    cpu = blas.cpu_info(AVX2_CPU)
    assert blas.pinned_warnings(cpu, []) == blas.pinned_warnings(cpu, [], dict(os.environ))


def test_report_lines_name_the_cpu_each_blas_and_each_peer():
    cpu = blas.cpu_info(AVX512_CPU)
    lines = blas.format_report(cpu, blas.blas_libraries([NUMPY]),
                               {"torch": blas.describe_peer_blas(
                                   {"blas": ["torch BLAS mkl, CPU capability AVX512", NUMPY]})})
    assert lines == ["CPU: AMD EPYC 9R14, widest SIMD AVX-512",
                     "BLAS numpy: openblas 0.3.31, architecture SkylakeX, 2 threads",
                     "peer torch: torch BLAS mkl, CPU capability AVX512; openblas 0.3.31 "
                     "(SkylakeX)"]
    assert blas.describe_peer_blas({}) == "not reported"
