"""Fuzzing the file readers: every mutated file ends in a documented error or a right answer.

Valid IDX files (raw and gzip), MNIST directories and model files are mutated (truncated,
bytes flipped, set, inserted or deleted, header fields rewritten, entries replaced) and
read back. Each case must end in ``DataFileError`` / ``ModelFileError`` (both
``fastnn.FastnnError``) or in a result equal to what an independent reference reading of
the same bytes gives; any other exception fails the test.

``FASTNN_FUZZ_EXAMPLES`` (default 300) is the number of cases per fuzz test; with the
default the file runs 2,100 cases. The count actually run is printed at the end of the
module (``fuzz cases run: ...``).
"""

import ast
import collections
import gzip
import io
import math
import os
import struct
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import fastnn as fnn
from fastnn.datasets import load_mnist, read_idx
from fastnn.errors import DataFileError, ModelFileError
from fastnn.io import KEYS, model_arrays

FUZZ_EXAMPLES = int(os.environ.get("FASTNN_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
CASES = collections.Counter()
# How each model-file case ended, per test: "loaded" or the error with the path left out.
OUTCOMES = collections.defaultdict(collections.Counter)
FUZZ_TESTS = 7


@pytest.fixture(scope="module", autouse=True)
def report_case_count(request):
    """Print how many fuzz cases ran, past pytest's output capture."""
    yield
    line = (f"fuzz cases run: {sum(CASES.values())} ("
            + ", ".join(f"{name} {n}" for name, n in sorted(CASES.items()))
            + f"; FASTNN_FUZZ_EXAMPLES={FUZZ_EXAMPLES})")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + line)


@pytest.fixture(autouse=True)
def _numpy_backend():
    """Loaded models are checked with the reference backend (the files are the subject)."""
    with fnn.use_backend("numpy"):
        yield


# -- mutations ----------------------------------------------------------------------------

def mutate(draw, blob: bytes, fields=()) -> bytes:
    """``blob`` after 1 to 3 random edits; ``fields`` lists (offset, size) header fields
    (big- or little-endian unsigned ints) that an edit may rewrite wholesale."""
    data = bytearray(blob)
    kinds = ["truncate", "flip", "set", "insert", "delete", "append"] + (["field"] if fields
                                                                        else [])
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(kinds))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "truncate":
            del data[at:]
        elif kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "set" and data:
            data[at] = draw(st.sampled_from([0, 1, 8, 0x7F, 0x80, 0xFF]))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif kind == "append":
            data += draw(st.binary(min_size=1, max_size=16))
        elif kind == "field":
            offset, size, order = draw(st.sampled_from(fields))
            if offset + size <= len(data):
                top = 2 ** (8 * size) - 1
                value = draw(st.one_of(st.sampled_from([0, 1, 2, 3, 4, 5, 9, 28, 255, top,
                                                        top // 2 + 1, top - 1]),
                                       st.integers(0, top)))
                data[offset:offset + size] = value.to_bytes(size, order)
    return bytes(data)


# -- IDX ----------------------------------------------------------------------------------

@st.composite
def idx_files(draw, ndim=st.integers(1, 4), dim=st.integers(1, 5)):
    """(bytes, array) of a valid IDX file with random shape and payload."""
    n_dims = draw(ndim)
    shape = tuple(draw(st.lists(dim, min_size=n_dims, max_size=n_dims)))
    n = math.prod(shape)
    payload = draw(st.binary(min_size=n, max_size=n))
    header = bytes([0, 0, 8, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    return header + payload, np.frombuffer(payload, np.uint8).reshape(shape)


def idx_fields(blob):
    """Header fields of an IDX image: the two zero bytes, type code, ndim, each dimension."""
    ndim = blob[3]
    return ([(0, 2, "big"), (2, 1, "big"), (3, 1, "big")]
            + [(4 + 4 * a, 4, "big") for a in range(ndim)])


def reference_idx(raw: bytes):
    """What a correct reader makes of these (decompressed) bytes: an array, or None."""
    if len(raw) < 4 or raw[0] or raw[1] or raw[2] != 8 or not 1 <= raw[3] <= 4:
        return None
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        return None
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    if 0 in shape or len(raw) != 4 + 4 * ndim + math.prod(shape):
        return None
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def reference_file(data: bytes):
    """reference_idx of a file's bytes, gunzipping them if they start with the gzip magic."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except Exception:  # noqa: BLE001 - any failure to gunzip means: not a valid file
            return None
    return reference_idx(data)


def check_idx(path, data):
    """read_idx(path) must agree with the reference: same array, or a DataFileError."""
    path.write_bytes(data)
    expected = reference_file(data)
    try:
        got = read_idx(path)
    except DataFileError as exc:
        assert expected is None, f"valid file refused: {exc}"
        assert str(path) in str(exc) and "\n" not in str(exc), str(exc)
        return
    assert expected is not None, f"invalid file accepted as {got.shape}"
    assert got.dtype == np.uint8 and got.flags.writeable
    np.testing.assert_array_equal(got, expected)


@FUZZ
@given(st.data())
def test_fuzz_idx_raw(tmp_path, data):
    CASES["idx_raw"] += 1
    blob, _ = data.draw(idx_files())
    check_idx(tmp_path / "f.idx", mutate(data.draw, blob, idx_fields(blob)))


@FUZZ
@given(st.data())
def test_fuzz_idx_gzip_of_mutated_idx(tmp_path, data):
    CASES["idx_gzip_inner"] += 1
    blob, _ = data.draw(idx_files())
    inner = mutate(data.draw, blob, idx_fields(blob))
    check_idx(tmp_path / "f.idx.gz", gzip.compress(inner, mtime=0))


@FUZZ
@given(st.data())
def test_fuzz_idx_mutated_gzip_stream(tmp_path, data):
    CASES["idx_gzip_stream"] += 1
    blob, _ = data.draw(idx_files())
    packed = gzip.compress(blob, mtime=0)
    n = len(packed)
    fields = [(3, 1, "little"), (4, 4, "little"), (n - 8, 4, "little"), (n - 4, 4, "little")]
    check_idx(tmp_path / "f.idx.gz", mutate(data.draw, packed, fields))


# -- MNIST directories: image/label agreement -------------------------------------------

MNIST_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def mnist_files(rng):
    def idx(array):
        return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + \
            array.tobytes()
    return {MNIST_NAMES[0]: idx(rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)),
            MNIST_NAMES[1]: idx(np.array([0, 9, 4], np.uint8)),
            MNIST_NAMES[2]: idx(rng.integers(0, 256, (2, 28, 28), dtype=np.uint8)),
            MNIST_NAMES[3]: idx(np.array([7, 1], np.uint8))}


MNIST_BASE = mnist_files(np.random.default_rng(0))


def reference_mnist(files):
    arrays = [reference_idx(files[name]) for name in MNIST_NAMES]
    if any(a is None for a in arrays):
        return None
    pairs = []
    for images, labels in (arrays[:2], arrays[2:]):
        if (images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1
                or len(images) != len(labels) or labels.max() > 9):
            return None
        pairs.append((images.reshape(len(images), 784), labels.astype(np.int64)))
    return pairs


@FUZZ
@given(st.data())
def test_fuzz_mnist_directory(tmp_path, data):
    CASES["mnist_dir"] += 1
    files = dict(MNIST_BASE)
    name = data.draw(st.sampled_from(MNIST_NAMES))
    files[name] = mutate(data.draw, files[name], idx_fields(files[name]))
    for key, blob in files.items():
        (tmp_path / key).write_bytes(blob)
    expected = reference_mnist(files)
    try:
        got = load_mnist(tmp_path, dtype=np.uint8, download=False)
    except DataFileError as exc:
        assert expected is None, f"valid directory refused: {exc}"
        assert "\n" not in str(exc), str(exc)
        return
    assert expected is not None, "invalid MNIST files accepted"
    for (X, y), (X_ref, y_ref) in zip(got, expected):
        np.testing.assert_array_equal(X, X_ref)
        np.testing.assert_array_equal(y, y_ref)
        assert y.dtype == np.int64


# -- model files --------------------------------------------------------------------------

def base_models():
    out = []
    rng = np.random.default_rng(0)
    for sizes, loss, dtype, act in [((3, 4, 2), "softmax_cross_entropy", "float32", "relu"),
                                    ((2, 3, 3, 1), "mse", "float64", "tanh"),
                                    ((4, 2), "sigmoid_bce", "float32", "sigmoid")]:
        model = fnn.MLP(list(sizes), activation=act, loss=loss, seed=1, dtype=dtype)
        model.set_params(rng.normal(size=model.params.size))
        out.append(model)
    return out


MODELS = base_models()


def model_entries(model):
    """The entries ``fastnn.save`` writes, as {key: array} (copies: the tests edit them)."""
    return {key: value.copy() for key, value in model_arrays(model).items()}


def saved_bytes(model, tmp_path, compressed=False):
    path = tmp_path / "base.npz"
    if compressed:
        np.savez_compressed(path, **model_entries(model))
    else:
        fnn.save(model, path)
    return path.read_bytes()


def zip_fields(blob):
    """(offset, size, order) of the zip header fields in ``blob``: local headers, central
    directory records and the end-of-central-directory record."""
    fields = []
    for sig, offsets in ((b"PK\x03\x04", [(4, 2), (6, 2), (8, 2), (14, 4), (18, 4), (22, 4),
                                          (26, 2), (28, 2)]),
                         (b"PK\x01\x02", [(6, 2), (8, 2), (10, 2), (16, 4), (20, 4), (24, 4),
                                          (28, 2), (30, 2), (32, 2), (42, 4)]),
                         (b"PK\x05\x06", [(4, 2), (8, 2), (10, 2), (12, 4), (16, 4), (20, 2)])):
        at = blob.find(sig)
        while at >= 0:
            fields += [(at + off, size, "little") for off, size in offsets]
            at = blob.find(sig, at + 4)
    return fields


def same_model(model, expected):
    assert model.sizes == expected.sizes and model.loss == expected.loss
    assert model.dtype == expected.dtype and model.seed == expected.seed
    assert model.input_scale == expected.input_scale
    assert [l.activation for l in model.layers] == [l.activation for l in expected.layers]
    assert model.params.tobytes() == expected.params.tobytes()


def refused(test, path, exc):
    """Check a ModelFileError's message and record it as the case's outcome."""
    assert str(path) in str(exc) and "\n" not in str(exc), str(exc)
    OUTCOMES[test][str(exc).replace(str(path), "PATH")] += 1


def loads_as_written(test, path):
    """fastnn.load(path) must raise ModelFileError or return exactly what the file holds
    (read independently with np.load). Returns the model or None."""
    try:
        model = fnn.load(path)
    except ModelFileError as exc:
        refused(test, path, exc)
        return None
    OUTCOMES[test]["loaded"] += 1
    with np.load(path, allow_pickle=False) as z:
        written = {key: z[key] for key in KEYS}
    assert model.sizes == tuple(int(s) for s in written["sizes"])
    assert [l.activation for l in model.layers] == [str(a) for a in written["activations"]]
    assert model.loss == str(written["loss"]) and model.dtype.name == str(written["dtype"])
    assert model.seed == int(written["seed"])
    assert model.input_scale == float(written["input_scale"])
    assert model.params.dtype == written["params"].dtype
    assert model.params.tobytes() == written["params"].tobytes()
    assert np.isfinite(model.params).all()
    logits = model.logits(np.ones((2, model.sizes[0])))
    assert logits.shape == (2, model.sizes[-1])
    return model


@FUZZ
@given(st.data())
def test_fuzz_model_file_bytes(tmp_path, data):
    CASES["model_bytes"] += 1
    model = data.draw(st.sampled_from(MODELS))
    blob = saved_bytes(model, tmp_path, compressed=data.draw(st.booleans()))
    path = tmp_path / "m.npz"
    path.write_bytes(mutate(data.draw, blob, zip_fields(blob)))
    try:
        loaded = fnn.load(path)
    except ModelFileError as exc:
        refused("model_bytes", path, exc)
        return
    OUTCOMES["model_bytes"]["loaded"] += 1
    same_model(loaded, model)  # zip CRCs and names guard the content: a load is the original


VALUE_DTYPES = st.sampled_from([np.int64, np.int32, np.uint8, np.float32, np.float64,
                                np.dtype(">f4"), np.dtype(">i8"), np.bool_, np.complex64,
                                np.dtype("<U12"), np.dtype("S4"), np.dtype("m8[s]")])


@st.composite
def replacement(draw, key, model):
    """A new value for entry ``key``: random arrays, or plausible and consistent changes."""
    random = hnp.arrays(VALUE_DTYPES, hnp.array_shapes(min_dims=0, max_dims=2, max_side=4))
    n_layers = len(model.sizes) - 1
    plausible = {
        "format": st.sampled_from(["fastnn-model", "fastnn-model2", "", "FASTNN-MODEL"]),
        "version": st.sampled_from([0, 1, 2, -1, 2**62]),
        "sizes": st.lists(st.integers(-2, 6), min_size=0, max_size=5),
        "activations": st.lists(st.sampled_from(["relu", "tanh", "sigmoid", "identity",
                                                 "softmax", ""]),
                                min_size=n_layers - 1, max_size=n_layers + 1),
        "loss": st.sampled_from(["softmax_cross_entropy", "sigmoid_bce", "mse", "hinge"]),
        "dtype": st.sampled_from(["float32", "float64", "float16", "int64", "f4"]),
        "seed": st.one_of(st.integers(0, 2**63 - 1), st.integers(-5, -1)),
        "input_scale": st.sampled_from([1.0, 1 / 255, 0.0, -1.0, math.nan, math.inf]),
        "params": st.sampled_from(["cast32", "cast64", "nan", "inf", "short", "long", "2d"]),
    }[key]
    if draw(st.booleans()):
        return draw(random)
    value = draw(plausible)
    if key in ("version", "sizes", "seed"):
        return np.array(value, np.int64)
    if key != "params":
        return np.array(value)
    p = model.params
    return {"cast32": p.astype(np.float32), "cast64": p.astype(np.float64),
            "nan": np.where(np.arange(p.size) == p.size // 2, np.nan, p).astype(p.dtype),
            "inf": np.full_like(p, np.inf), "short": p[:-1], "long": np.r_[p, p[:1]],
            "2d": p[:, None]}[value]


@FUZZ
@given(st.data())
def test_fuzz_model_entries(tmp_path, data):
    CASES["model_entries"] += 1
    model = data.draw(st.sampled_from(MODELS))
    arrays = model_entries(model)
    for key in data.draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3,
                                  unique=True)):
        if data.draw(st.integers(0, 9)) == 0:
            del arrays[key]
        else:
            arrays[key] = data.draw(replacement(key, model))
    if "dtype" in arrays and data.draw(st.booleans()):  # keep params consistent with dtype
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # complex -> real casts
                arrays["params"] = arrays["params"].astype(str(arrays["dtype"]))
        except (TypeError, ValueError, KeyError):
            pass
    path = tmp_path / "m.npz"
    np.savez(path, **arrays)
    loads_as_written("model_entries", path)


def npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


@st.composite
def npy_header_edit(draw, blob):
    """A .npy image with its header dict or version bytes rewritten."""
    header_len = struct.unpack("<H", blob[8:10])[0]
    header, payload = blob[10:10 + header_len], blob[10 + header_len:]
    choice = draw(st.sampled_from(["shape", "descr", "fortran", "version", "text"]))
    if choice == "text":
        return blob[:10] + mutate(draw, header) + payload
    if choice == "version":
        return blob[:6] + bytes(draw(st.sampled_from([(2, 0), (3, 0), (0, 0), (9, 9)]))) + \
            blob[8:]
    d = ast.literal_eval(header.decode("latin1"))
    if choice == "shape":
        d["shape"] = tuple(draw(st.lists(st.one_of(st.integers(-2, 8), st.sampled_from(
            [2**31, 2**40, 2**62])), min_size=0, max_size=3)))
    elif choice == "descr":
        d["descr"] = draw(st.sampled_from(["<f4", "<f8", ">f4", ">f8", "|O", "<i8", "|u1",
                                           "<U5", "|S3", "|V8", "<c8", "<M8[s]", "<f2",
                                           [("a", "<f4")]]))
    else:
        d["fortran_order"] = not d["fortran_order"]
    text = repr(d).encode("latin1")
    text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
    return blob[:8] + struct.pack("<H", len(text)) + text + payload


@FUZZ
@given(st.data())
def test_fuzz_model_npy_headers(tmp_path, data):
    CASES["model_npy_headers"] += 1
    model = data.draw(st.sampled_from(MODELS))
    key = data.draw(st.sampled_from(KEYS))
    path = tmp_path / "m.npz"
    with zipfile.ZipFile(path, "w") as z:  # valid CRCs: only the .npy header is wrong
        for name, value in model_entries(model).items():
            blob = npy_bytes(value)
            z.writestr(f"{name}.npy", data.draw(npy_header_edit(blob)) if name == key else blob)
    loaded = loads_as_written("model_npy_headers", path)
    if loaded is not None and key in ("version", "sizes", "params"):
        same_model(loaded, model)


def test_fuzz_case_count():
    """The module ran at least 2,000 cases at the default budget."""
    if FUZZ_EXAMPLES != 300 or len(CASES) < FUZZ_TESTS:
        pytest.skip("needs the whole module at the default FASTNN_FUZZ_EXAMPLES")
    assert sum(CASES.values()) >= 2000, CASES


def test_fuzz_model_cases_reach_past_the_first_check():
    """Fuzzing that one early check refuses every time tests nothing after it: in each
    model-file test some cases load, and no one refusal ends most of the cases."""
    if FUZZ_EXAMPLES != 300 or len(OUTCOMES) < 3:
        pytest.skip("needs the whole module at the default FASTNN_FUZZ_EXAMPLES")
    for test, outcomes in OUTCOMES.items():
        assert outcomes["loaded"] > 0, (test, outcomes.most_common(3))
        if test != "model_bytes":  # there, zip's CRC check rightly refuses most flips
            (message, n), = outcomes.most_common(1)
            assert n < sum(outcomes.values()) / 2, (test, outcomes.most_common(3))
