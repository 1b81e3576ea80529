"""Model files: atomic save, bit-identical reload, and a loader that trusts nothing.

``fastnn.save`` must never leave a half-written model where the old one was, nor a temp
file beside it. ``fastnn.load`` must never unpickle (a hostile file must not run code),
must check the format, version, architecture and every entry's dtype and shape, must not
allocate more than the file holds, and must turn every corrupt, truncated or foreign file
into one ModelFileError naming the file.
"""

import gzip
import io
import os
import pickle
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fastnn as fnn
from fastnn.errors import BackendError, ModelFileError
from fastnn.kernels import load_backend


def make_model(sizes=(4, 6, 3), loss="softmax_cross_entropy", dtype="float32",
               activation="relu", seed=7, epochs=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, sizes[0]))
    k = sizes[-1]
    y = {"softmax_cross_entropy": np.arange(40) % k,
         "sigmoid_bce": (rng.random((40, k)) > 0.5).astype(float),
         "mse": rng.normal(size=(40, k))}[loss]
    model = fnn.MLP(list(sizes), activation=activation, loss=loss, seed=seed, dtype=dtype)
    model.fit(X, y, epochs=epochs, batch_size=8, optimizer=fnn.SGD(lr=0.01), verbose=0)
    return model, X


def entries(model):
    """The arrays ``fastnn.save`` writes for ``model``, as a dict to tamper with."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.npz"
        fnn.save(model, path)
        with np.load(path, allow_pickle=False) as z:
            return {key: z[key] for key in z.files}


def write_npz(path, arrays, compressed=False):
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def expect_model_error(path, *words):
    with pytest.raises(ModelFileError) as info:
        fnn.load(path)
    message = str(info.value)
    assert "\n" not in message, message
    for word in (str(path),) + words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


# -- round trips -----------------------------------------------------------------------

@pytest.mark.parametrize("sizes, loss, dtype, activation", [
    ((4, 6, 3), "softmax_cross_entropy", "float32", "relu"),
    ((4, 6, 3), "softmax_cross_entropy", "float64", "tanh"),
    ((4, 5, 5, 2), "sigmoid_bce", "float32", "sigmoid"),
    ((4, 1), "mse", "float64", "identity"),
    ((4, 8, 3), "mse", "float32", "relu"),
])
def test_save_then_load_gives_bit_identical_predictions(backend, tmp_path, sizes, loss,
                                                        dtype, activation):
    model, X = make_model(sizes, loss, dtype, activation)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = fnn.load(path)
    assert loaded.sizes == model.sizes and loaded.loss == model.loss
    assert loaded.dtype == model.dtype and loaded.seed == model.seed
    assert [l.activation for l in loaded.layers] == [l.activation for l in model.layers]
    assert loaded.params.tobytes() == model.params.tobytes()
    assert loaded.logits(X).tobytes() == model.logits(X).tobytes()
    assert loaded.predict(X).tobytes() == model.predict(X).tobytes()
    if loss != "mse":
        assert loaded.predict_proba(X).tobytes() == model.predict_proba(X).tobytes()
    assert os.listdir(tmp_path) == ["model.npz"]


def test_a_file_saved_on_one_backend_loads_on_the_others(tmp_path):
    model, X = make_model()
    path = tmp_path / "m.npz"
    with fnn.use_backend("numpy"):
        model.save(path)
        expected = model.logits(X)
    for name in ("numpy", "numba"):
        try:
            load_backend(name)
        except BackendError:
            continue
        with fnn.use_backend(name):
            np.testing.assert_allclose(fnn.load(path).logits(X), expected, rtol=1e-5, atol=1e-6)


def test_a_loaded_model_keeps_training(backend, tmp_path):
    model, X = make_model()
    model.save(tmp_path / "m.npz")
    loaded = fnn.load(tmp_path / "m.npz")
    loaded.fit(X, np.arange(40) % 3, epochs=1, verbose=0)
    assert np.isfinite(loaded.params).all()


def test_save_overwrites_and_accepts_any_name(backend, tmp_path):
    first, X = make_model(seed=1)
    second, _ = make_model(seed=2)
    for name in ("model.npz", "model", "model.bin"):
        path = tmp_path / name
        first.save(path)
        second.save(str(path))
        assert fnn.load(path).params.tobytes() == second.params.tobytes()
    assert sorted(os.listdir(tmp_path)) == ["model", "model.bin", "model.npz"]


# -- atomic save -----------------------------------------------------------------------

@pytest.mark.parametrize("error", [OSError("No space left on device"), KeyboardInterrupt()])
def test_a_failed_save_keeps_the_old_file_and_leaves_no_temp_file(backend, tmp_path,
                                                                   monkeypatch, error):
    old, X = make_model(seed=1)
    new, _ = make_model(seed=2)
    path = tmp_path / "model.npz"
    old.save(path)
    before = path.read_bytes()
    real_savez = np.savez

    def savez_then_fail(file, **arrays):
        real_savez(file, **arrays)  # write most of a valid file first...
        file.seek(file.tell() // 2)
        file.truncate()
        raise error                 # ...then fail midway

    monkeypatch.setattr(np, "savez", savez_then_fail)
    with pytest.raises(type(error)):
        new.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]
    assert fnn.load(path).logits(X).tobytes() == old.logits(X).tobytes()


def test_a_failed_rename_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    old, _ = make_model(seed=1)
    path = tmp_path / "model.npz"
    old.save(path)
    before = path.read_bytes()

    def no_rename(src, dst):
        raise PermissionError(f"cannot replace {dst}")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(PermissionError):
        make_model(seed=2)[0].save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.npz"]


def test_save_into_a_missing_directory_fails_naming_the_path(tmp_path):
    path = tmp_path / "nope" / "m.npz"
    with pytest.raises(FileNotFoundError, match=f"cannot write to {path}") as info:
        make_model()[0].save(path)
    assert ".tmp" not in str(info.value)
    assert os.listdir(tmp_path) == []


def test_save_onto_a_directory_is_refused_and_writes_nothing(tmp_path):
    with pytest.raises(IsADirectoryError, match=f"{tmp_path}: it is a directory"):
        make_model()[0].save(tmp_path)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_saved_file_gets_the_mode_of_any_new_file(tmp_path, umask):
    old = os.umask(umask)
    try:
        make_model()[0].save(tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "m.npz"
    make_model(seed=1)[0].save(path)
    path.chmod(0o640)
    make_model(seed=2)[0].save(path)
    assert path.stat().st_mode & 0o777 == 0o640


def test_saving_through_a_symlink_replaces_the_file_it_points_to(tmp_path):
    target, link = tmp_path / "models" / "m.npz", tmp_path / "latest.npz"
    target.parent.mkdir()
    make_model(seed=1)[0].save(target)
    link.symlink_to(target)
    new, X = make_model(seed=2)
    new.save(link)
    assert link.is_symlink() and sorted(os.listdir(target.parent)) == ["m.npz"]
    assert fnn.load(target).logits(X).tobytes() == new.logits(X).tobytes()


# -- load: no pickle, ever --------------------------------------------------------------

class Exploit:
    """Unpickling this creates the marker file: proof that a loader ran a pickle."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("key", ["params", "sizes", "loss", "format"])
def test_an_object_array_is_refused_not_unpickled(tmp_path, key):
    marker = tmp_path / "pwned"
    arrays = entries(make_model()[0])
    arrays[key] = np.array([Exploit(marker)], dtype=object)
    path = write_npz(tmp_path / "evil.npz", arrays)
    if key == "params" or key == "sizes":
        expect_model_error(path, repr(key), "Python objects", "never unpickles")
    else:
        expect_model_error(path, repr(key), "never unpickles")
    assert not marker.exists()


def test_an_extra_object_entry_is_never_read(tmp_path):
    """An entry fastnn does not know is refused by name (it used to be ignored), unread."""
    marker = tmp_path / "pwned"
    model, X = make_model()
    arrays = entries(model)
    arrays["payload"] = np.array([Exploit(marker)], dtype=object)
    path = write_npz(tmp_path / "extra.npz", arrays)
    expect_model_error(path, "unknown entry 'payload'")
    assert not marker.exists()


def test_an_extra_plain_entry_is_refused_by_name(tmp_path):
    arrays = entries(make_model()[0])
    arrays["momentum"] = np.zeros(3)
    expect_model_error(write_npz(tmp_path / "extra.npz", arrays), "unknown entry 'momentum'",
                       "format, version")


@pytest.mark.parametrize("version, words", [(0, ["older or invalid version", "1 only"]),
                                            (-3, ["older or invalid version"]),
                                            (7, ["newer fastnn"])])
def test_a_version_other_than_1_says_why(tmp_path, version, words):
    arrays = entries(make_model()[0])
    arrays["version"] = np.array(version, np.int64)
    path = write_npz(tmp_path / "v.npz", arrays)
    expect_model_error(path, "version", str(version), *words)
    with pytest.raises(ModelFileError) as info:
        fnn.load(path)
    assert ("newer" in str(info.value)) == (version > 1)


def test_io_and_model_do_not_import_each_other():
    """fastnn.io reads models (it imports fastnn.model); fastnn.model writes them through
    fastnn._model_file and never imports fastnn.io, not even inside a function."""
    import ast
    import inspect

    import fastnn._model_file
    import fastnn.model

    for module, banned in ((fastnn.model, {"io", "fastnn.io"}),
                           (fastnn._model_file, {"io", "fastnn.io", "model", "fastnn.model"})):
        imported = set()
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if isinstance(node, ast.ImportFrom):  # "from .io import x", "from . import io"
                imported |= {node.module} if node.module else {a.name for a in node.names}
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
        assert not imported & banned, (module.__name__, imported & banned)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_a_pickle_renamed_npz_is_refused_not_unpickled(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps({"params": Exploit(marker)}, protocol=protocol))
    expect_model_error(path, "not a readable fastnn model file")
    assert not marker.exists()


# -- load: foreign, corrupt, truncated ---------------------------------------------------

def foreign_files(tmp_path):
    model, _ = make_model()
    good = tmp_path / "good.npz"
    model.save(good)
    data = good.read_bytes()
    files = {
        "empty": b"",
        "text": b"format: fastnn-model\nversion: 1\n",
        "npy": None,
        "gzip": gzip.compress(data),
        "truncated-1-byte": data[:-1],
        "truncated-half": data[:len(data) // 2],
        "truncated-header": data[:30],
        "zip-of-text": None,
        "plain-npz": None,
    }
    buf = io.BytesIO()
    np.save(buf, model.params)
    files["npy"] = buf.getvalue()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    files["zip-of-text"] = buf.getvalue()
    buf = io.BytesIO()
    np.savez(buf, weights=model.params, layers=np.array(model.sizes))
    files["plain-npz"] = buf.getvalue()
    return files


@pytest.mark.parametrize("kind, words", [
    ("empty", ["not a readable"]), ("text", ["not a readable"]),
    ("npy", ["not a readable"]), ("gzip", ["not a readable"]),
    ("truncated-1-byte", ["not a readable"]), ("truncated-half", ["not a readable"]),
    ("truncated-header", ["not a readable"]),
    ("zip-of-text", ["not a fastnn model file", "missing format, version, sizes"]),
    ("plain-npz", ["not a fastnn model file", "missing format"]),
])
def test_foreign_and_truncated_files_are_refused(tmp_path, kind, words):
    path = tmp_path / f"{kind}.npz"
    path.write_bytes(foreign_files(tmp_path)[kind])
    expect_model_error(path, *words)


def test_a_missing_file_is_file_not_found_and_a_directory_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError):
        fnn.load(tmp_path / "absent.npz")
    expect_model_error(tmp_path, "not a readable")


def test_a_flipped_byte_in_the_parameters_is_caught_by_the_crc(tmp_path):
    model, _ = make_model()
    path = tmp_path / "m.npz"
    model.save(path)
    data = bytearray(path.read_bytes())
    at = data.find(model.params.tobytes()[:16])
    assert at > 0
    data[at + 5] ^= 0x10
    path.write_bytes(bytes(data))
    expect_model_error(path, "CRC")


def test_a_compressed_npz_with_the_right_entries_loads(tmp_path):
    model, X = make_model()
    path = write_npz(tmp_path / "c.npz", entries(model), compressed=True)
    assert fnn.load(path).logits(X).tobytes() == model.logits(X).tobytes()


def test_an_unsupported_zip_compression_is_refused(tmp_path):
    model, _ = make_model()
    path = tmp_path / "bz2.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_BZIP2) as z:
        for key, value in entries(model).items():
            buf = io.BytesIO()
            np.save(buf, value)
            z.writestr(f"{key}.npy", buf.getvalue())
    expect_model_error(path, "compression method 12", "stored", "deflated")


# (id, entry, replacement, words in the message)
TAMPERED = [
    ("format-other", "format", np.array("other-model"), ["format", "fastnn-model",
                                                         "other-model"]),
    ("format-bytes", "format", np.array(b"fastnn-model"), ["format", "fastnn-model"]),
    ("version-2", "version", np.array(2, np.int64), ["version", "2", "newer fastnn"]),
    ("version-string", "version", np.array("1"), ["version", "'1'"]),
    ("version-float", "version", np.array(1.0), ["version"]),
    ("sizes-negative", "sizes", np.array([4, -6, 3]), ["sizes", "positive", "-6"]),
    ("sizes-zero", "sizes", np.array([4, 0, 3]), ["sizes", "positive"]),
    ("sizes-float", "sizes", np.array([4.0, 6.0, 3.0]), ["sizes", "positive integers"]),
    ("sizes-2d", "sizes", np.array([[4, 6, 3]]), ["sizes"]),
    ("sizes-one", "sizes", np.array([4]), ["sizes"]),
    ("sizes-other-architecture", "sizes", np.array([4, 7, 3]),
     ["params", "(59,)", "(4, 7, 3)", "(51,)"]),
    ("activations-count", "activations", np.array(["relu"]), ["activations", "2 names"]),
    ("activations-unknown", "activations", np.array(["swish", "identity"]),
     ["activation", "'swish'", "relu"]),
    ("activations-int", "activations", np.array([1, 2]), ["activations"]),
    ("loss-unknown", "loss", np.array("hinge"), ["loss", "'hinge'", "mse"]),
    ("loss-list", "loss", np.array(["mse"]), ["loss", "single name"]),
    ("dtype-float16", "dtype", np.array("float16"), ["dtype", "float32 or float64",
                                                     "float16"]),
    ("dtype-int", "dtype", np.array(32), ["dtype", "single name"]),
    ("seed-negative", "seed", np.array(-1), ["seed", "-1"]),
    ("seed-float", "seed", np.array(1.5), ["seed", "single integer"]),
    ("input-scale-text", "input_scale", np.array("big"), ["input_scale", "single number"]),
    ("input-scale-zero", "input_scale", np.array(0.0), ["input_scale", "0.0"]),
    ("input-scale-nan", "input_scale", np.array(np.nan), ["input_scale", "nan"]),
    ("params-short", "params", np.zeros(50, np.float32), ["params", "(51,)", "(50,)"]),
    ("params-2d", "params", np.zeros((51, 1), np.float32), ["params", "(51,)", "(51, 1)"]),
    ("params-float64", "params", np.zeros(51), ["params", "float32", "float64"]),
    ("params-big-endian", "params", np.zeros(51, ">f4"), ["params", "float32", ">f4"]),
    ("params-int", "params", np.zeros(51, np.int32), ["params", "float32", "int32"]),
    ("params-nan", "params", np.full(51, np.nan, np.float32), ["params", "NaN"]),
    ("params-inf", "params", np.full(51, np.inf, np.float32), ["params", "infinite"]),
]


@pytest.mark.parametrize("key, value, words", [case[1:] for case in TAMPERED],
                         ids=[case[0] for case in TAMPERED])
def test_every_entry_is_checked(tmp_path, key, value, words):
    arrays = entries(make_model()[0])
    assert arrays["params"].shape == (51,)
    arrays[key] = value
    expect_model_error(write_npz(tmp_path / "m.npz", arrays), *words)


@pytest.mark.parametrize("key", ["format", "version", "sizes", "activations", "loss", "dtype",
                                 "seed", "input_scale", "params"])
def test_a_missing_entry_is_named(tmp_path, key):
    arrays = entries(make_model()[0])
    del arrays[key]
    expect_model_error(write_npz(tmp_path / "m.npz", arrays), "missing", key)


def npy_with_header(shape, dtype="<f4", payload=b""):
    """A .npy image whose header declares ``shape`` but which holds only ``payload``."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


def zip_entries(path, arrays, raw=None):
    """A zip of ``arrays`` saved as .npy, with ``raw`` {name: bytes} entries added as is."""
    with zipfile.ZipFile(path, "w") as z:
        for key, value in arrays.items():
            buf = io.BytesIO()
            np.save(buf, value)
            z.writestr(f"{key}.npy", buf.getvalue())
        for key, data in (raw or {}).items():
            z.writestr(f"{key}.npy", data)
    return path


@pytest.mark.parametrize("key, shape", [("params", (10**12,)), ("params", (51, 10**11)),
                                        ("sizes", (10**12,)), ("params", (-1,))])
def test_a_header_declaring_more_than_the_file_holds_allocates_nothing(tmp_path, key, shape,
                                                                        peak_bytes):
    arrays = entries(make_model()[0])
    dtype = "<f4" if key == "params" else "<i8"
    payload = arrays.pop(key).tobytes()
    path = zip_entries(tmp_path / "m.npz", arrays,
                       {key: npy_with_header(shape, dtype, payload)})
    peak = peak_bytes(expect_model_error, path, repr(key), str(shape),
                      f"holds {len(payload)} bytes")
    assert peak < 8 << 20, peak


def test_sizes_declaring_a_giant_network_allocate_nothing(tmp_path, peak_bytes):
    arrays = entries(make_model()[0])
    arrays["sizes"] = np.array([10**9, 10**9, 3])
    path = write_npz(tmp_path / "m.npz", arrays)
    peak = peak_bytes(expect_model_error, path, "params", "(1000000004000000003,)", "(51,)")
    assert peak < 8 << 20, peak


def test_an_entry_declaring_a_huge_size_in_the_zip_is_refused(tmp_path):
    arrays = entries(make_model()[0])
    path = write_npz(tmp_path / "m.npz", arrays)
    data = bytearray(path.read_bytes())
    # the central directory record of "loss.npy": patch its uncompressed size field
    at = data.rfind(b"PK\x01\x02", 0, data.rfind(b"loss.npy"))
    struct.pack_into("<I", data, at + 24, 0xFFFFFFF0)
    path.write_bytes(bytes(data))
    expect_model_error(path, "'loss'", "4294967280 bytes", "at most 65536")


def test_an_unfitted_model_is_not_saved(tmp_path):
    with pytest.raises(fnn.NotFittedError, match="load\\(\\) treats as trained"):
        fnn.MLP([3, 2], seed=0).save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


# -- the input map and class names travel with the model ----------------------------------
@pytest.mark.parametrize("names", [["benign", "malignant", "unsure"], [2, 4, 8], [0.5, 1.5, 9.0]],
                         ids=["str", "int", "float"])
def test_input_map_and_classes_round_trip(tmp_path, names):
    """A standardising model with class names loads with both: the same predictions, the
    names, on the same raw rows."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)) * [1, 100, 0.01, 5] + [0, 1000, 3, -20]
    y = np.asarray(names)[np.arange(60) % 3]
    model = fnn.MLP([4, 6, 3], seed=1, input_shift=X.mean(axis=0), input_scale=1 / X.std(axis=0),
                    classes=names)
    model.fit(X, y, epochs=3, verbose=0)
    model.save(tmp_path / "m.npz")
    loaded = fnn.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.input_shift, model.input_shift)
    np.testing.assert_array_equal(loaded.input_scale, model.input_scale)
    assert loaded.classes.tolist() == list(names) and loaded.classes.dtype == model.classes.dtype
    predicted = loaded.predict(X)
    assert predicted.tolist() == model.predict(X).tolist() and set(predicted) <= set(names)
    assert loaded.evaluate(X, y) == model.evaluate(X, y)


def test_a_file_without_the_optional_entries_loads_as_before(tmp_path):
    """Files written before input_shift and classes existed: the identity shift, labels."""
    arrays = entries(make_model()[0])
    assert "input_shift" not in arrays and "classes" not in arrays
    model = fnn.load(write_npz(tmp_path / "old.npz", arrays))
    assert model.input_shift == 0.0 and model.input_scale == 1.0 and model.classes is None
    assert model.predict(np.ones((2, 4))).dtype == np.int64


@pytest.mark.parametrize("key, value, words", [
    ("input_shift", np.zeros(3), ["input_shift", "one per input feature (4,)"]),
    ("input_shift", np.array("x"), ["input_shift", "single number"]),
    ("input_scale", np.array([1.0, 2.0, -1.0, 1.0]), ["input_scale", "must be positive"]),
    ("classes", np.array(["a", "b"]), ["classes", "3 classes"]),
    ("classes", np.array(["a", "b", "a"]), ["classes", "distinct"]),
    ("classes", np.zeros((3, 1)), ["classes", "list of names"]),
])
def test_the_optional_entries_are_checked(tmp_path, key, value, words):
    arrays = entries(make_model()[0])
    arrays[key] = value
    expect_model_error(write_npz(tmp_path / "m.npz", arrays), *words)
