"""Peers in processes of their own: one-shot runs and long-lived epoch servers.

A library measured inside fastnn's process is measured beside fastnn's thread pools and
settings (PyTorch ran 2x slower there), so every peer runs as ``python -m MODULE`` in a
fresh process with this process's environment (fastnn keeps its thread settings out of
it). Two ways:

- :func:`run_module`: the process runs to the end and prints one JSON line, its report;
- :class:`PeerProcess`: the process trains ONE ongoing run and waits between epochs: it
  prints a JSON "ready" line (version, BLAS), then for each ``epoch`` line on its stdin
  runs one epoch and prints ``{"seconds": s}``; ``done`` makes it score the test set,
  print its final report and exit (``fastnn.peers.serve``). Waiting on a pipe, it uses
  no CPU while the others run.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading

PEERS = {"torch": "fastnn.peers.torch_mlp", "jax": "fastnn.peers.jax_mlp",
         "sklearn": "fastnn.peers.sklearn_mlp"}
FASTNN_PEER = "fastnn.peers.fastnn_mlp"  # fastnn run as a peer: time to accuracy


class PeerFailed(RuntimeError):
    """A peer process died, timed out or broke the protocol; the message says how."""


def peer_argv(batch: int, samples: int | None, epochs: int, threads: int) -> list[str]:
    """The common options of a peer script."""
    argv = ["--batch", str(batch), "--epochs", str(epochs), "--threads", str(threads)]
    return argv + (["--samples", str(samples)] if samples is not None else [])


def run_peer(name: str, batch: int, samples: int | None, epochs: int, threads: int = 2,
             timeout: float | None = None) -> dict:
    """Run peer ``name`` (a key of PEERS) for ``epochs`` epochs in a fresh process; its
    JSON report (see ``fastnn.peers``), or ``skipped`` (its library is missing) or
    ``error`` (the process failed: its exit status and last stderr line)."""
    return run_module(name, PEERS[name], peer_argv(batch, samples, epochs, threads), timeout)


def run_module(name: str, module: str, argv: list[str], timeout: float | None = None,
               env: dict | None = None) -> dict:
    """``python -m module *argv`` in a fresh process (environment: this process's, or
    ``env``); the last JSON line it prints, or ``{"peer": name, "error": ...}``."""
    try:
        done = subprocess.run([sys.executable, "-m", module, *argv], capture_output=True,
                              text=True, env=dict(os.environ) if env is None else env,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"peer": name, "error": f"timed out after {timeout:g} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"peer": name, "error": f"exit status {done.returncode}: "
                                       f"{_last_line(done.stderr)}"}
    return json.loads(lines[-1])


class PeerProcess:
    """A peer's ongoing training run in a process of its own, one epoch per request.

    After construction ``ready`` holds the peer's first line: version and BLAS, or
    ``skipped``. :meth:`epoch` and :meth:`finish` raise :class:`PeerFailed`.
    """

    def __init__(self, name: str, module: str, argv: list[str], timeout: float = 600.0):
        self.name, self.timeout = name, timeout
        self._stderr = tempfile.TemporaryFile(mode="w+")  # a file: a full pipe would block
        self._process = subprocess.Popen(
            [sys.executable, "-m", module, "--serve", *argv], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=dict(os.environ),
            bufsize=1)
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ready = self._reply()

    def _read(self) -> None:
        for line in self._process.stdout:
            if line.startswith("{"):
                self._lines.put(line)
        self._lines.put(None)  # end of output: the process is gone

    def _reply(self) -> dict:
        try:
            line = self._lines.get(timeout=self.timeout)
        except queue.Empty:
            self.close()
            raise PeerFailed(f"{self.name}: no answer within {self.timeout:g} s") from None
        if line is None:
            self._process.wait()
            raise PeerFailed(f"{self.name}: exit status {self._process.returncode}: "
                             f"{self._stderr_tail()}")
        return json.loads(line)

    def _send(self, command: str) -> dict:
        try:
            self._process.stdin.write(command + "\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the reply (end of output) says why
        return self._reply()

    def epoch(self) -> float:
        """Run one more epoch in the peer; its seconds, as the peer timed them."""
        return float(self._send("epoch")["seconds"])

    def finish(self) -> dict:
        """End the run: the peer scores the test set and exits; its final report."""
        try:
            return self._send("done")
        finally:
            self.close()

    def close(self) -> None:
        """Stop the process if it still runs (closing its stdin ends a waiting peer)."""
        if self._process.poll() is None:
            try:
                self._process.stdin.close()
                self._process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        self._stderr.close()

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        return _last_line(self._stderr.read())


def _last_line(text: str) -> str:
    return (text.strip().splitlines() or ["no output"])[-1]
