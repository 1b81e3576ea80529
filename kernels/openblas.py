"""The BLAS library that compiled training calls: OpenBLAS from ``scipy-openblas32``.

numba's own ``np.dot`` calls the OpenBLAS bundled with SciPy, which for an MNIST epoch's
matrix products took 1.1-1.4x the time of numpy's at batch 32; this build took 0.93x
(``docs/performance.md``). The numba kernels call its ``scipy_cblas_?gemm`` by name
(``numba_backend/blas.py``); ``fastnn.threads`` loads it before setting BLAS threads.
"""

from __future__ import annotations

import os
import sys
from functools import cache


@cache
def load() -> str:
    """Load the library into the process, its symbols global (once); return its path."""
    import llvmlite.binding as llvm
    import scipy_openblas32

    path = os.path.join(scipy_openblas32.get_lib_dir(), _file_name(scipy_openblas32))
    scipy_openblas32.get_openblas_config()  # loads it with RTLD_GLOBAL, as the package does
    llvm.load_library_permanently(path)  # and for the JIT's symbol lookup
    return path


def _file_name(package) -> str:
    if sys.platform == "win32":  # the DLL sits beside the import library
        return package.get_library() + ".dll"
    return package.get_library(fullname=True)
