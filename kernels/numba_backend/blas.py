"""Matrix products inside numba kernels: ``scipy_cblas_sgemm``/``dgemm`` (and ``?gemv`` for
one row) of the OpenBLAS that ``kernels/openblas.py`` loads, called by symbol name (kernels
using them stay cacheable). Row-major, 32-bit integers (the scipy-openblas32 interface)."""

import numpy as np
from numba import types

from ..openblas import load
from .config import inline

load()

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_I = types.int32


def _gemm_type(name, real):
    # pointers pass as intp: the same register class as a pointer on every 64-bit ABI
    return types.ExternalFunction(name, types.void(
        _I, _I, _I, _I, _I, _I, real, types.intp, _I, types.intp, _I, real, types.intp, _I))


def _gemv_type(name, real):
    return types.ExternalFunction(name, types.void(
        _I, _I, _I, _I, real, types.intp, _I, types.intp, _I, real, types.intp, _I))


_sgemm = _gemm_type("scipy_cblas_sgemm", types.float32)
_dgemm = _gemm_type("scipy_cblas_dgemm", types.float64)
_sgemv = _gemv_type("scipy_cblas_sgemv", types.float32)
_dgemv = _gemv_type("scipy_cblas_dgemv", types.float64)


@inline
def gemm(a, b, out, trans_a, trans_b):
    """out (m, n) = op(a) @ op(b), op(x) = x.T when its flag is set; a, b, out 2-D arrays of
    one float dtype whose rows are contiguous (C arrays or row slices of them)."""
    m, n = out.shape
    k = a.shape[0] if trans_a else a.shape[1]
    if m == 0 or n == 0:
        return
    ta = _TRANS if trans_a else _NO_TRANS
    tb = _TRANS if trans_b else _NO_TRANS
    lda = max(1, a.strides[0] // a.itemsize)
    ldb = max(1, b.strides[0] // b.itemsize)
    ldc = max(1, out.strides[0] // out.itemsize)
    if out.itemsize == 4:
        _sgemm(_ROW_MAJOR, ta, tb, m, n, k, np.float32(1), a.ctypes.data, lda, b.ctypes.data,
               ldb, np.float32(0), out.ctypes.data, ldc)
    else:
        _dgemm(_ROW_MAJOR, ta, tb, m, n, k, np.float64(1), a.ctypes.data, lda, b.ctypes.data,
               ldb, np.float64(0), out.ctypes.data, ldc)


@inline
def vecmat(x, W, y):
    """y (o,) = x (i,) @ W (i, o), W's rows contiguous: one row's product, by ``?gemv``
    (at one row 16% faster than ``?gemm`` for the MNIST net's 784 x 256 layer, measured)."""
    i, o = W.shape
    if o == 0:
        return
    ldw = max(1, W.strides[0] // W.itemsize)
    inc_x, inc_y = x.strides[0] // x.itemsize, y.strides[0] // y.itemsize
    if y.itemsize == 4:
        _sgemv(_ROW_MAJOR, _TRANS, i, o, np.float32(1), W.ctypes.data, ldw, x.ctypes.data,
               inc_x, np.float32(0), y.ctypes.data, inc_y)
    else:
        _dgemv(_ROW_MAJOR, _TRANS, i, o, np.float64(1), W.ctypes.data, ldw, x.ctypes.data,
               inc_x, np.float64(0), y.ctypes.data, inc_y)
