"""JAX CPU peer: the whole training step in one ``jax.jit``, params and velocity donated.

Plain jax (no optax): SGD momentum in PyTorch's form (``v = mu*v + g``, ``p -= lr*v``;
with ``--nesterov`` ``p -= lr*(g + mu*v)``; weight decay ``g += wd*W`` on the weights
only), PyTorch's default initialisation (uniform +-1/sqrt(fan_in)) or, with ``--init he``,
fastnn's. The learning rate is an argument of the jitted step (one value per step, from
``fastnn.peers.learning_rates``), so a schedule costs no recompiling. The training set
and each epoch's permutation live on the device; the step slices its batch out of the permutation
(``lax.dynamic_slice``) and gathers the rows inside the jit. An epoch ends with
``block_until_ready``, so its wall time is its work. Compiling happens in epoch 1 (two
shapes when the last batch is partial): that is why ``first_epoch_s`` is reported apart.

Threads: XLA has no thread-count setting for CPU computations; with T below the CPU count
the process is pinned to T CPUs (``os.sched_setaffinity``, before jax is imported, which
also sizes XLA's pool) and, for T = 1, XLA's Eigen pool is disabled too; with T at the
CPU count everything is JAX's default. See ``fastnn.peers`` for the arguments and output.
"""

from __future__ import annotations

import os

from fastnn import peers
from fastnn.benchmark.workload import MNIST_SIZES


def limit_threads(threads: int) -> str:
    """Keep XLA to ``threads`` CPUs; say how (goes into the report)."""
    if threads >= (os.cpu_count() or threads):
        return "default"
    how = []
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
        how.append(f"affinity {threads} CPUs")
    if threads == 1:
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
        how.append("XLA_FLAGS single-threaded")
    return ", ".join(how) or "default (cannot limit)"


def main(argv=None) -> None:
    args = peers.parse_args("jax", argv)
    threads_how = limit_threads(args.threads)
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        peers.skip("jax", f"{exc.name or 'jax'} is not installed")
    (X, y), (X_test, y_test) = peers.load_data(args.samples)
    n = len(X)

    def init(key):
        params = []
        shapes = list(zip(MNIST_SIZES[:-1], MNIST_SIZES[1:]))
        for layer, (i, o) in enumerate(shapes):
            key, kw, kb = jax.random.split(key, 3)
            if args.init == "he":
                last = layer == len(shapes) - 1
                limit = peers.glorot_limit(i, o)
                W = (jax.random.uniform(kw, (i, o), jnp.float32, -limit, limit) if last else
                     jax.random.normal(kw, (i, o), jnp.float32) * (2.0 / i) ** 0.5)
                params.append((W, jnp.zeros((o,), jnp.float32)))
                continue
            bound = 1.0 / i ** 0.5
            params.append((jax.random.uniform(kw, (i, o), jnp.float32, -bound, bound),
                           jax.random.uniform(kb, (o,), jnp.float32, -bound, bound)))
        return params

    def logits_of(params, x):
        for W, b in params[:-1]:
            x = jax.nn.relu(x @ W + b)
        W, b = params[-1]
        return x @ W + b

    def loss_of(params, x, t):
        logp = jax.nn.log_softmax(logits_of(params, x))
        return -jnp.mean(jnp.take_along_axis(logp, t[:, None], axis=1))

    mu, wd, nesterov = args.momentum, args.weight_decay, args.nesterov

    def train_step(params, velocity, X, y, order, start, lr, size):
        idx = jax.lax.dynamic_slice_in_dim(order, start, size)
        grads = jax.grad(loss_of)(params, X[idx], y[idx])
        if wd:
            grads = [(gW + wd * W, gb) for (gW, gb), (W, _) in zip(grads, params)]
        velocity = jax.tree.map(lambda v, g: mu * v + g, velocity, grads)
        steps = (jax.tree.map(lambda g, v: g + mu * v, grads, velocity) if nesterov
                 else velocity)
        params = jax.tree.map(lambda p, s: p - lr * s, params, steps)
        return params, velocity

    step = jax.jit(train_step, static_argnames="size", donate_argnums=(0, 1))
    predict = jax.jit(lambda params, x: jnp.argmax(logits_of(params, x), axis=1))

    key = jax.random.key(args.seed)
    key, init_key = jax.random.split(key)
    params = init(init_key)
    velocity = jax.tree.map(jnp.zeros_like, params)
    X_d, y_d = jnp.asarray(X), jnp.asarray(y.astype("int32"))
    X_test_d, y_test_d = jnp.asarray(X_test), jnp.asarray(y_test.astype("int32"))
    rates = peers.learning_rates(args, n).astype("float32")  # numpy: no device op per step
    steps_per_epoch = -(-n // args.batch)

    def epoch(e):
        nonlocal params, velocity
        order = jax.random.permutation(jax.random.fold_in(key, e), n)
        for k, start in enumerate(range(0, n, args.batch)):
            params, velocity = step(params, velocity, X_d, y_d, order, start,
                                    rates[e * steps_per_epoch + k],
                                    size=min(args.batch, n - start))
        jax.block_until_ready((params, velocity))

    def accuracy():
        return float((predict(params, X_test_d) == y_test_d).mean())

    if args.serve:
        peers.serve("jax", jax.__version__, args, n, epoch, accuracy,
                    [f"XLA CPU ({', '.join(str(d) for d in jax.devices())}), no BLAS library",
                     *peers.blas_info()])
        return
    run = peers.train_to_target(args.epochs, epoch, accuracy, args.target)
    peers.report("jax", jax.__version__, args, n, run.pop("epoch_seconds"),
                 run["test_accuracies"][-1], threads_how=threads_how,
                 devices=[str(d) for d in jax.devices()], recipe=peers.recipe(args), **run)


if __name__ == "__main__":
    main()
