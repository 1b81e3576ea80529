"""Export a fitted fastnn model to ONNX, for ONNX Runtime and other inference engines.

The graph takes exactly what ``model.predict`` takes, as floats: input ``X`` (N, i) of
the model's dtype, with a symbolic batch dimension ``N``; a model's input map comes
first, ``Sub`` of ``input_shift`` (if not 0) and ``Mul`` by ``input_scale`` (if not 1),
each a constant or one per feature, with the same rounding as fastnn's own. Each layer
is ``MatMul`` + ``Add`` and its activation, as its unit lowers it (``kernels/activations``:
``Relu``, ``Tanh``, ``Sigmoid``, leaky relu and gelu as the arithmetic ONNX Runtime runs
in both float types; nothing for identity). The outputs follow the loss, whose unit
lowers its output transform (``kernels/losses``):

- softmax_cross_entropy: ``probabilities`` (N, k) (``Softmax`` axis 1) and ``label``
  int64 (N,) (``ArgMax`` of the logits, the first of equal maxima, like numpy);
- sigmoid_bce: ``probabilities`` (N, k) (``Sigmoid``) and ``label`` int64, logits > 0,
  (N,) for one output, else (N, k);
- mse, huber, mae: ``predictions`` (N,) for one output, else (N, k); poisson: the same
  of ``Exp`` of the outputs (the predicted mean).

A model with ``classes`` has ``label`` of the class names instead, as ``predict`` does
(``Gather`` from them: string, int64 or double), and the index as ``label_index``
int64 (N,).

The default opset is 20 (``DEFAULT_OPSET``): the newest both ``onnx>=1.15`` and
``onnxruntime>=1.17`` (the ``onnx`` extra's minimums) support; any opset from 13 (where
``Squeeze`` takes its axes as an input) to the installed onnx's newest may be asked for.
The file records the lowest IR version its opset needs, so older runtimes read it.
How closely ONNX Runtime reproduces ``predict`` is derived in ``tests/test_onnx.py``.
"""

from __future__ import annotations

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:
    raise ImportError("fastnn.onnx needs the 'onnx' extra: pip install 'fastnn[onnx]'",
                      name="onnx") from None

from . import _validate as check
from ._files import atomic_write, check_writable
from .errors import ConfigError, ValueRangeError
from .kernels.activations import resolve
from .model import Sequential

DEFAULT_OPSET = 20
MIN_OPSET = 13
_TENSOR_TYPES = {np.dtype(np.float32): TensorProto.FLOAT,
                 np.dtype(np.float64): TensorProto.DOUBLE}


def export(model, path, *, opset: int | None = None, dtype=None) -> None:
    """Write ``model`` to ``path`` as ONNX, checked by ``onnx.checker``, atomically.

    model: a fitted ``fastnn.Sequential`` (``fnn.MLP``), or an object holding one as
    ``fastnn_model_`` (fastnn's scikit-learn estimators: the graph's ``label`` is then the
    class index, ``classes_[label]`` the class). opset: default ``DEFAULT_OPSET``.
    dtype: float32 or float64 for the weights and the input ``X`` (default the model's;
    float32 rounds a float64 model's weights). NotFittedError for an unfitted model,
    OSError naming ``path`` if it cannot be written (an existing file stays as it was).
    """
    proto = to_onnx(model, opset=opset, dtype=dtype)
    check_writable(path)
    with atomic_write(path) as f:
        f.write(proto.SerializeToString())


def to_onnx(model, *, opset: int | None = None, dtype=None) -> onnx.ModelProto:
    """The checked ``onnx.ModelProto`` that :func:`export` writes (same arguments)."""
    model = _fastnn_model(model)
    model._require_fitted()
    opset = _opset(opset)
    dtype = model.dtype if dtype is None else check.float_dtype(dtype)
    elem = _TENSOR_TYPES[dtype]
    net = model.net
    sizes, k = model.sizes, model.sizes[-1]

    nodes, inits = _input_map(model, dtype)
    a = "X_scaled" if nodes else "X"
    last = net.n_layers - 1
    for l, (W, b, act) in enumerate(zip(net.W, net.b, net.activations)):
        inits += [numpy_helper.from_array(check.converted(W, dtype, f"layer {l} weights"), f"W{l}"),
                  numpy_helper.from_array(check.converted(b, dtype, f"layer {l} biases"), f"b{l}")]
        unit, param = resolve(act)
        z = "logits" if l == last and unit.NAME == "identity" else f"z{l}"
        nodes += [helper.make_node("MatMul", [a, f"W{l}"], [f"xW{l}"]),
                  helper.make_node("Add", [f"xW{l}", f"b{l}"], [z])]
        a = z
        if unit.NAME != "identity":
            a = "logits" if l == last else f"a{l}"
            lowered, constants = unit.onnx_nodes(z, a, param, dtype.type)
            nodes += [helper.make_node(op, inputs, outputs, **attributes)
                      for op, inputs, outputs, attributes in lowered]
            inits += [numpy_helper.from_array(np.array(value, dtype), name)
                      for name, value in constants.items()]

    outputs = []
    squeeze = k == 1
    if squeeze:
        inits.append(numpy_helper.from_array(np.array([1], np.int64), "axis_1"))
    # with class names, the index is "label_index" and "label" the name it picks
    index = "label" if model.classes is None else "label_index"
    loss, loss_param = model._unit, model._loss_param
    classifies = loss.HITS != "none"
    # the loss unit's output transform: probabilities, or the prediction (before squeezing)
    transformed = "probabilities" if classifies else "predicted"
    if loss.PREDICT == "identity":
        transformed = "logits"
    else:
        lowered, constants = loss.onnx_nodes("logits", transformed, loss_param, dtype.type)
        nodes += [helper.make_node(op, inputs, outputs_, **attributes)
                  for op, inputs, outputs_, attributes in lowered]
        inits += [numpy_helper.from_array(np.array(value, dtype), name)
                  for name, value in constants.items()]
    if loss.HITS == "argmax":
        nodes.append(helper.make_node("ArgMax", ["logits"], [index], axis=1, keepdims=0))
        outputs.append(_value("probabilities", elem, ["N", k]))
    elif loss.HITS == "sign":
        inits.append(numpy_helper.from_array(np.array(0, dtype), "zero"))
        label = "label_k" if squeeze else index
        nodes += [helper.make_node("Greater", ["logits", "zero"], ["positive"]),
                  helper.make_node("Cast", ["positive"], [label], to=TensorProto.INT64)]
        if squeeze:
            nodes.append(helper.make_node("Squeeze", ["label_k", "axis_1"], [index]))
        outputs.append(_value("probabilities", elem, ["N", k]))
    if classifies:
        shape = ["N", k] if loss.HITS == "sign" and k > 1 else ["N"]
        label_type = TensorProto.INT64
        if model.classes is not None:
            names = model.classes
            label_type = {"U": TensorProto.STRING, "i": TensorProto.INT64,
                          "f": TensorProto.DOUBLE}[names.dtype.kind]
            inits.append(numpy_helper.from_array(
                names.astype(object) if names.dtype.kind == "U" else names, "classes"))
            nodes.append(helper.make_node("Gather", ["classes", "label_index"], ["label"],
                                          axis=0))
            outputs.append(_value("label_index", TensorProto.INT64, shape))
        outputs.append(_value("label", label_type, shape))
    else:
        nodes.append(helper.make_node("Squeeze", [transformed, "axis_1"], ["predictions"])
                     if squeeze else helper.make_node("Identity", [transformed], ["predictions"]))
        outputs.append(_value("predictions", elem, ["N"] if squeeze else ["N", k]))

    graph = helper.make_graph(nodes, "fastnn", [_value("X", elem, ["N", sizes[0]])], outputs,
                              initializer=inits)
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets,
                              ir_version=helper.find_min_ir_version_for(opsets),
                              producer_name="fastnn", producer_version=_fastnn_version(),
                              doc_string=repr(model))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _input_map(model, dtype) -> tuple[list, list]:
    """(nodes, initializers) mapping input ``X`` to ``X_scaled``: ``Sub`` the shift, then
    ``Mul`` by the scale (each a scalar or (i,) of ``dtype``, as fastnn rounds them);
    nothing for the identity map."""
    nodes, inits, a = [], [], "X"
    if np.ndim(model.input_shift) > 0 or model.input_shift != 0:
        inits.append(numpy_helper.from_array(np.asarray(model.input_shift, dtype),
                                             "input_shift"))
        nodes.append(helper.make_node("Sub", [a, "input_shift"], ["X_shifted"]))
        a = "X_shifted"
    if nodes or np.ndim(model.input_scale) > 0 or model.input_scale != 1.0:
        inits.append(numpy_helper.from_array(np.asarray(model.input_scale, dtype),
                                             "input_scale"))
        nodes.append(helper.make_node("Mul", [a, "input_scale"], ["X_scaled"]))
    return nodes, inits


def _fastnn_model(model) -> Sequential:
    inner = getattr(model, "fastnn_model_", None)
    if isinstance(inner, Sequential):
        return inner
    if isinstance(model, Sequential):
        return model
    raise ConfigError(f"export needs a fastnn.Sequential (e.g. fnn.MLP) or a fitted estimator "
                      f"holding one as fastnn_model_, got {type(model).__name__}")


def _opset(opset) -> int:
    newest = onnx.defs.onnx_opset_version()
    if opset is None:
        return DEFAULT_OPSET
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not (
            MIN_OPSET <= opset <= newest):
        raise ValueRangeError(f"opset must be an integer from {MIN_OPSET} to {newest} (the "
                              f"newest of the installed onnx {onnx.__version__}), got {opset!r}")
    return int(opset)


def _value(name: str, elem: int, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _fastnn_version() -> str:
    from . import __version__
    return __version__
