"""fastnn itself, run as a peer: ``fastnn train mnist``'s model and data in a process of
its own, so that it is timed exactly as the other libraries are (fresh process, its first
epoch loading numba's cache or compiling, as a user's first fit does).

The model and data are the mnist problem's (``fastnn.problems``: uint8 pixels scaled by
1/255 inside the model, He-normal ReLU layers, a Glorot-uniform output layer, zero
biases); the optimizer is ``SGD(lr=OneCycle(--max-lr) or --lr, --momentum, --nesterov,
--weight-decay)``. One ``model.fit`` call; a callback stops the clock at each epoch's end
to score the test set and ends the fit at the target (see ``peers.train_to_target``).
``--init`` is fastnn's own either way. See ``fastnn.peers`` for the arguments and output.
"""

from __future__ import annotations

import time

from fastnn import peers


class _Scorer:
    """fit callback: training seconds and test accuracy of each epoch (clock stopped
    while scoring); stops the fit at the target."""

    def __init__(self, test, target):
        self.test, self.target = test, target
        self.seconds, self.accuracies = [], []
        self.mark = None

    def on_train_begin(self, model):
        self.mark = time.perf_counter()

    def on_epoch_end(self, model, epoch, logs):
        self.seconds.append(time.perf_counter() - self.mark)
        if self.target is None:
            self.mark = time.perf_counter()
            return None
        self.accuracies.append(model.evaluate(*self.test)["accuracy"])
        self.mark = time.perf_counter()
        return self.accuracies[-1] >= self.target


def main(argv=None) -> None:
    args = peers.parse_args("fastnn", argv)
    import fastnn as fnn
    from fastnn.problems import PROBLEMS

    fnn.set_num_threads(args.threads)
    problem = PROBLEMS["mnist"]
    (X, y), test = problem.load()
    X, y = X[:args.samples], y[:args.samples]
    model = problem.build(seed=args.seed)
    lr = (fnn.schedules.OneCycle(max_lr=args.max_lr) if args.schedule == "onecycle"
          else args.lr)
    optimizer = fnn.SGD(lr=lr, momentum=args.momentum, nesterov=args.nesterov,
                        weight_decay=args.weight_decay)
    scorer = _Scorer(test, args.target)
    with fnn.use_backend(args.backend):
        model.fit(X, y, epochs=args.epochs, batch_size=args.batch, optimizer=optimizer,
                  callbacks=[scorer], verbose=0)
        if args.target is None:
            scorer.accuracies.append(model.evaluate(*test)["accuracy"])
    run = {"test_accuracies": scorer.accuracies}
    if args.target is not None:
        reached = scorer.accuracies[-1] >= args.target
        run.update(target=args.target,
                   seconds_to_target=sum(scorer.seconds) if reached else None,
                   epochs_to_target=len(scorer.seconds) if reached else None)
    peers.report("fastnn", fnn.__version__, args, len(X), scorer.seconds,
                 scorer.accuracies[-1], backend=args.backend, threads_info=fnn.thread_info(),
                 recipe=peers.recipe(args), **run)


if __name__ == "__main__":
    main()
