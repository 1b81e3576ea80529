"""PyTorch eager CPU peer: nn.Sequential + optim.SGD, as PyTorch users write the loop.

Tensors are made once from the numpy arrays; each epoch draws a fresh permutation
(``torch.randperm``) and indexes the batches with it. ``torch.set_num_threads(T)``;
everything else is PyTorch's default. With the recipe options the learning rate is set
on the optimizer before every step from fastnn's schedule (the values
``OneCycleLR(cycle_momentum=False)`` gives, computed once by fastnn's own code), the
weight decay goes to the weights' parameter group only, and ``--init he`` re-initialises
the layers as fastnn does. See ``fastnn.peers`` for the arguments and output.
"""

from __future__ import annotations

import re

from fastnn import peers
from fastnn.benchmark.workload import MNIST_SIZES


def main(argv=None) -> None:
    args = peers.parse_args("torch", argv)
    try:
        import torch
    except ImportError:
        peers.skip("torch", "torch is not installed")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    (X, y), (X_test, y_test) = peers.load_data(args.samples)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    X_test_t = torch.from_numpy(X_test)

    linears = [torch.nn.Linear(i, o) for i, o in zip(MNIST_SIZES[:-1], MNIST_SIZES[1:])]
    if args.init == "he":
        with torch.no_grad():
            for layer in linears[:-1]:
                torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            out = linears[-1]
            out.weight.uniform_(-peers.glorot_limit(*MNIST_SIZES[-2:]),
                                peers.glorot_limit(*MNIST_SIZES[-2:]))
            for layer in linears:
                layer.bias.zero_()
    layers = []
    for linear in linears:
        layers += [linear, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    groups = [{"params": [l.weight for l in linears], "weight_decay": args.weight_decay},
              {"params": [l.bias for l in linears], "weight_decay": 0.0}]
    optimizer = torch.optim.SGD(groups, lr=args.lr, momentum=args.momentum,
                                nesterov=args.nesterov)
    loss_fn = torch.nn.CrossEntropyLoss()
    rates = peers.learning_rates(args, len(X_t)).tolist()
    step = 0

    def epoch(_):
        nonlocal step
        order = torch.randperm(len(X_t))
        for start in range(0, len(X_t), args.batch):
            idx = order[start:start + args.batch]
            for group in optimizer.param_groups:
                group["lr"] = rates[step]
            optimizer.zero_grad()
            loss_fn(model(X_t[idx]), y_t[idx]).backward()
            optimizer.step()
            step += 1

    def accuracy():
        with torch.no_grad():
            return (model(X_test_t).argmax(1).numpy() == y_test).mean()

    if args.serve:
        peers.serve("torch", torch.__version__, args, len(X), epoch, accuracy, blas_info(torch))
        return
    run = peers.train_to_target(args.epochs, epoch, accuracy, args.target)
    peers.report("torch", torch.__version__, args, len(X), run.pop("epoch_seconds"),
                 run["test_accuracies"][-1], interop_threads=torch.get_num_interop_threads(),
                 recipe=peers.recipe(args), **run)


def blas_info(torch) -> list:
    """torch's own BLAS (from its build configuration) and CPU capability, then the BLAS
    libraries threadpoolctl sees in the process (numpy's, which loads the data)."""
    found = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return [f"torch BLAS {found[1] if found else 'unknown'}, CPU capability "
            f"{torch.backends.cpu.get_cpu_capability()}", *peers.blas_info()]


if __name__ == "__main__":
    main()
