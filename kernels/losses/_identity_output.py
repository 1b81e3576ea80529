"""The output of a regression loss that predicts z itself (mse, huber, mae): its
reference transform, its scalar rule for compiled code and its ONNX lowering."""


def predict(out, z, p):
    out[...] = z


def prediction(z, p, f):
    return z


def onnx_nodes(z, y, p, dtype):
    return [("Identity", [z], [y], {})], {}
