"""Step time and memory of the Jacobian modes against plain backward passes and TorchJD.

For each model (an MLP and a small transformer encoder, both a shared trunk of about d
parameters with K linear heads and regression losses on random data), K and d, every Jacobian
mode of ``MultiObjectiveOptimizer`` times ``opt.aggregate(losses)`` (``.grad`` written, no
inner step) against baselines measured in the same process on the same model:

- ``1 bwd``: one plain backward of the summed loss (``sum(losses).backward()``);
- ``K bwd``: K ``torch.autograd.grad(loss_k, params)`` calls through the same graph
  (``retain_graph`` for all but the last, like the ``params`` mode): the floor of the exact
  modes;
- TorchJD 0.18 with the same aggregator where it has one (``ls`` = ``Mean``, ``mgda``,
  ``upgrad``, ...): ``torchjd.autojac.backward(losses, inputs=params)`` then
  ``jac_to_grad(params, aggregator)`` (every parameter in the Jacobian), and
  ``torchjd.autojac.mtl_backward(losses, features=z, tasks_params=heads, shared_params=trunk)``
  then ``jac_to_grad(trunk, aggregator)`` (exact Jacobian of the trunk, heads get their plain
  gradient: the same split as our optimizer with ``shared_params=trunk``).

The forward pass is built outside the timed region before every timed call; times are the
median of ``--repeats`` calls after ``--warmup`` rounds, the variants interleaved (rotated each
round) so that drift of the machine hits all of them alike. "Aggregation only" times, on one
fixed random K x d Jacobian, the Gramian + weights + combination: ``method(J, None, values)``
(the public, checked call), ``method.aggregate(J, pref, values)`` (unchecked) and TorchJD's
``aggregator(J)``.

Memory: every (cell, variant) runs once in a fresh process. On CPU the number is the growth of
the process's resident set during the step: after the forward, freed heap is returned to the
OS (``malloc_trim``) and the peak-RSS mark is reset (``/proc/self/clear_refs``), the step runs,
and the new peak (``VmHWM``) minus the RSS before the step is reported. It counts everything
the step touched (tensors, autograd buffers, allocator slack at page granularity): an
upper-bound proxy of the step's extra tensor bytes. Where the mark cannot be reset it falls back
to the ``ru_maxrss`` delta (a lower bound if an earlier peak was higher). On CUDA it is
``torch.cuda.max_memory_allocated()`` during the step minus the memory allocated before it.

    python benchmarks/perf.py --grid quick       # < 1 minute: d = 1e4, K in {2, 4}
    python benchmarks/perf.py --grid standard    # ~7-10 minutes on 2 quiet cores: d <= 4e6, K <= 8
    python benchmarks/perf.py --grid full        # the issue's grid, d <= 1e7, K <= 16 (hours)
    python benchmarks/perf.py --ks 4 --ds 1000000 --models mlp --modes params gramian
    python benchmarks/perf.py --render-only                   # perf.md from perf.jsonl again

The standard grid was sized on 2 threads of a quiet 16-core Xeon: its four K = 8, d = 1e6 and
4e6 step cells took 17 s (MLP 1e6), 48 s (MLP 4e6), 31 s (transformer 1e6) and 83 s
(transformer 4e6), all modes and the four default methods with 5 repeats and the memory runs.
Do not run it on a busy machine with ``--threads`` above the free cores: OpenMP waits then
make small steps orders of magnitude slower (the report flags a busy machine).

Raw results: ``<out>/perf.jsonl`` (one JSON line per cell, with the environment); the tables:
``<out>/perf.md``. With ``--append`` new cells are added to perf.jsonl (a cell measured again
replaces the older line when rendering).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import gc
import importlib.metadata
import itertools
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "data" / "perf"
DEFAULT_METHODS = ("ls", "mgda", "upgrad", "plc")
MODES = ("params", "params_batched", "gramian", "features", "subset")
MODELS = ("mlp", "transformer")
BASELINES = ("bwd1", "bwdK")
TORCHJD_VARIANTS = ("torchjd.backward", "torchjd.mtl")
LABELS = {
    "bwd1": "1 bwd",
    "bwdK": "K bwd",
    "torchjd.backward": "TorchJD backward",
    "torchjd.mtl": "TorchJD mtl_backward",
}
# The targets (checked from the numbers in render_targets).
AGG_TARGET = 1.0  # ours / TorchJD on the same J
PARAMS_TARGET = 1.10  # params mode / K backward passes
FEATURES_TARGET = 1.5  # features mode / one backward, K <= 8, d >= 4e6
FEATURES_MAX_K, FEATURES_MIN_D = 8, 4_000_000
MLP_IN, MLP_DEPTH, MLP_BATCH = 64, 4, 128
TF_IN, TF_LAYERS, TF_HEADS, TF_BATCH, TF_SEQ = 32, 4, 4, 16, 32
TINY_D = 2_000  # the warm-up model of the memory runs
HORIZON = 1_000  # total_steps / horizon given to methods with a schedule


@dataclass(frozen=True)
class Grid:
    models: tuple[str, ...]
    ks: tuple[int, ...]
    ds: tuple[int, ...]
    repeats: int
    warmup: int


GRIDS = {
    "quick": Grid(MODELS, (2, 4), (10_000,), 3, 1),
    # ~7 minutes on 2 quiet cores (sized from its largest cells, see the module docstring)
    "standard": Grid(MODELS, (2, 4, 8), (10_000, 100_000, 1_000_000, 4_000_000), 5, 1),
    "full": Grid(MODELS, (2, 4, 8, 16), (10_000, 100_000, 1_000_000, 10_000_000), 5, 1),
}


# Models -------------------------------------------------------------------------------------
class MLPTask(nn.Module):
    """A ReLU MLP trunk (``MLP_DEPTH`` layers of one width) and K scalar linear heads."""

    def __init__(self, width: int, k: int) -> None:
        super().__init__()
        dims = [MLP_IN] + [width] * MLP_DEPTH
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.trunk = nn.Sequential(*layers)
        self.last = layers[-2]
        self.heads = nn.ModuleList(nn.Linear(width, 1) for _ in range(k))

    def forward(self, x: Tensor, y: Tensor) -> tuple[list[Tensor], Tensor]:
        z = self.trunk(x)
        return [F.mse_loss(h(z).squeeze(-1), y[:, i]) for i, h in enumerate(self.heads)], z


class TransformerTask(nn.Module):
    """An input projection, a ``torch.nn.TransformerEncoder`` (``TF_LAYERS`` layers), mean
    pooling (the representation z) and K scalar linear heads."""

    def __init__(self, width: int, k: int) -> None:
        super().__init__()
        self.embed = nn.Linear(TF_IN, width)
        layer = nn.TransformerEncoderLayer(
            width, TF_HEADS, 4 * width, dropout=0.0, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, TF_LAYERS, enable_nested_tensor=False)
        self.last = self.encoder.layers[-1]
        self.heads = nn.ModuleList(nn.Linear(width, 1) for _ in range(k))

    def forward(self, x: Tensor, y: Tensor) -> tuple[list[Tensor], Tensor]:
        z = self.encoder(self.embed(x)).mean(dim=1)
        return [F.mse_loss(h(z).squeeze(-1), y[:, i]) for i, h in enumerate(self.heads)], z


def mlp_trunk_size(width: int) -> int:
    return MLP_IN * width + width + (MLP_DEPTH - 1) * (width * width + width)


def transformer_trunk_size(width: int) -> int:
    # per layer: attention 4w² + 4w, feed-forward 8w² + 5w, two layer norms 4w
    return TF_IN * width + width + TF_LAYERS * (12 * width * width + 13 * width)


def trunk_width(model: str, d: int) -> int:
    """The width whose trunk size is closest to d (a multiple of the head count for the
    transformer)."""
    if model == "mlp":
        size, step = mlp_trunk_size, 1
        guess = math.sqrt(d / (MLP_DEPTH - 1))
    else:
        size, step = transformer_trunk_size, TF_HEADS
        guess = math.sqrt(d / (12 * TF_LAYERS))
    lo = max(step, int(guess * 0.5) // step * step)
    candidates = range(lo, int(guess * 1.5) + 2 * step, step)
    return min(candidates, key=lambda w: abs(size(w) - d))


@dataclass
class Bench:
    model: nn.Module
    trunk: list[Tensor]
    heads: list[list[Tensor]]
    subset: list[Tensor]
    x: Tensor
    y: Tensor

    @property
    def params(self) -> list[Tensor]:
        return [*self.trunk, *(p for h in self.heads for p in h)]

    def forward(self) -> tuple[list[Tensor], Tensor]:
        return self.model(self.x, self.y)

    def clear(self) -> None:
        for p in self.params:
            p.grad = None
            if hasattr(p, "jac"):
                del p.jac


def build_bench(model: str, k: int, d: int, device: str, seed: int = 0) -> Bench:
    torch.manual_seed(seed)
    width = trunk_width(model, d)
    if model == "mlp":
        net: MLPTask | TransformerTask = MLPTask(width, k)
        trunk = list(net.trunk.parameters())
        x = torch.randn(MLP_BATCH, MLP_IN)
        y = torch.randn(MLP_BATCH, k)
    elif model == "transformer":
        net = TransformerTask(width, k)
        trunk = [*net.embed.parameters(), *net.encoder.parameters()]
        x = torch.randn(TF_BATCH, TF_SEQ, TF_IN)
        y = torch.randn(TF_BATCH, k)
    else:
        raise ValueError(f"unknown model {model!r}")
    net.to(device)
    return Bench(
        model=net,
        trunk=trunk,
        heads=[list(h.parameters()) for h in net.heads],
        subset=list(net.last.parameters()),
        x=x.to(device),
        y=y.to(device),
    )


# Variants -----------------------------------------------------------------------------------
# Our method name -> TorchJD 0.18 aggregator (class name, keyword arguments) with the same
# defaults (ls with a uniform preference is the mean of the rows).
TORCHJD_AGGREGATORS: dict[str, tuple[str, dict[str, Any]]] = {
    "ls": ("Mean", {}),
    "mgda": ("MGDA", {}),
    "upgrad": ("UPGrad", {}),
    "dualproj": ("DualProj", {}),
    "pcgrad": ("PCGrad", {}),
    "imtlg": ("IMTLG", {}),
    "alignedmtl": ("AlignedMTL", {}),
    "cagrad": ("CAGrad", {"c": 0.4}),
}


def has_torchjd(method: str) -> bool:
    return method in TORCHJD_AGGREGATORS


def torchjd_aggregator(method: str) -> Any:
    """TorchJD's aggregator matching our method (ImportError where an optional dependency of
    it, such as qpsolvers for UPGrad, is missing: the variant is then reported as an error)."""
    from torchjd import aggregation

    name, kwargs = TORCHJD_AGGREGATORS[method]
    return getattr(aggregation, name)(**kwargs)


StepFn = Callable[[list[Tensor], Tensor], Any]


def variant_names(modes: Iterable[str], methods: Iterable[str]) -> list[str]:
    methods = list(methods)
    names = [*BASELINES]
    names += [f"{mode}/{m}" for mode in modes for m in methods]
    names += [f"{v}/{m}" for v in TORCHJD_VARIANTS for m in methods if has_torchjd(m)]
    return names


def make_step(bench: Bench, name: str, gramian_block_numel: int | None) -> StepFn:
    """The timed part of one variant: from the losses (graph built) to ``.grad`` written."""
    params = bench.params
    if name == "bwd1":
        return lambda losses, z: sum(losses).backward()
    if name == "bwdK":

        def k_backward(losses: list[Tensor], z: Tensor) -> None:
            last = len(losses) - 1
            for i, loss in enumerate(losses):
                torch.autograd.grad(loss, params, retain_graph=i < last, allow_unused=True)

        return k_backward
    kind, method = name.split("/")
    if kind == "torchjd.backward":
        from torchjd.autojac import backward, jac_to_grad

        aggregator = torchjd_aggregator(method)

        def jd_backward(losses: list[Tensor], z: Tensor) -> None:
            backward(losses, inputs=params)
            jac_to_grad(params, aggregator)

        return jd_backward
    if kind == "torchjd.mtl":
        from torchjd.autojac import jac_to_grad, mtl_backward

        aggregator = torchjd_aggregator(method)

        def jd_mtl(losses: list[Tensor], z: Tensor) -> None:
            mtl_backward(losses, features=z, tasks_params=bench.heads, shared_params=bench.trunk)
            jac_to_grad(bench.trunk, aggregator)

        return jd_mtl
    from moo_lenient import MultiObjectiveOptimizer

    opt = MultiObjectiveOptimizer(
        torch.optim.SGD(params, lr=0.0),
        method=method,
        total_steps=HORIZON,  # the planned run length of methods with a schedule (PLC)
        shared_params=bench.trunk,
        jacobian_mode=kind,
        subset_params=bench.subset if kind == "subset" else None,
        **({} if gramian_block_numel is None else {"gramian_block_numel": gramian_block_numel}),
    )
    if kind == "features":
        return lambda losses, z: opt.aggregate(losses, features=z)
    return lambda losses, z: opt.aggregate(losses)


# Measurement (in the worker processes) ----------------------------------------------------------
def _setup(cfg: dict[str, Any]) -> None:
    # The objects inherited from the fork server are never garbage: keep the collector off
    # them (a full collection would walk them, copying their pages into this process's RSS).
    gc.freeze()
    torch.set_num_threads(cfg["threads"])
    warnings.simplefilter("ignore", DeprecationWarning)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time_call(bench: Bench, fn: StepFn, device: str) -> float:
    bench.clear()
    losses, z = bench.forward()
    _sync(device)
    start = time.perf_counter()
    fn(losses, z)
    _sync(device)
    return time.perf_counter() - start


def _notes(caught: list[warnings.WarningMessage]) -> list[str]:
    notes: list[str] = []
    for w in caught:
        message = str(w.message).split(" (Triggered internally")[0]
        text = f"{w.category.__name__}: {message[:300]}"
        if text not in notes:
            notes.append(text)
    return notes


def step_worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """Times every variant of one (model, K, d) cell; on CUDA also their memory."""
    _setup(cfg)
    device = cfg["device"]
    bench = build_bench(cfg["model"], cfg["k"], cfg["d"], device)
    steps: dict[str, StepFn] = {}
    errors: dict[str, str] = {}
    times: dict[str, list[float]] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", DeprecationWarning)
        for name in cfg["variants"]:
            try:
                steps[name] = make_step(bench, name, cfg["gramian_block_numel"])
                times[name] = []
            except Exception as exc:  # noqa: PERF203 (setup, not timed)
                errors[name] = f"{type(exc).__name__}: {exc}"
        for r in range(cfg["warmup"] + cfg["repeats"]):
            live = [n for n in steps if n not in errors]
            if not live:
                break
            shift = r % len(live)
            for name in live[shift:] + live[:shift]:
                try:
                    t = _time_call(bench, steps[name], device)
                except Exception as exc:
                    errors[name] = f"{type(exc).__name__}: {str(exc)[:300]}"
                    continue
                if r >= cfg["warmup"]:
                    times[name].append(t * 1e3)
        memory = {}
        if device.startswith("cuda") and cfg["memory_variants"]:
            wanted = {n: steps[n] for n in cfg["memory_variants"] if n in steps}
            memory = _cuda_memory(bench, wanted, errors, device)
    bench.clear()
    return {
        "times_ms": {n: v for n, v in times.items() if n not in errors},
        "errors": errors,
        "notes": _notes(caught),
        "memory": memory,
        "d": sum(p.numel() for p in bench.trunk),
        "d_all": sum(p.numel() for p in bench.params),
        "d_subset": sum(p.numel() for p in bench.subset),
        "width": trunk_width(cfg["model"], cfg["d"]),
    }


def _cuda_memory(
    bench: Bench, steps: dict[str, StepFn], errors: dict[str, str], device: str
) -> dict[str, dict[str, float]]:
    out = {}
    for name, fn in steps.items():
        if name in errors:
            continue
        bench.clear()
        gc.collect()
        torch.cuda.empty_cache()
        before = torch.cuda.memory_allocated()
        losses, z = bench.forward()
        _sync(device)
        after_forward = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn(losses, z)
        _sync(device)
        peak = torch.cuda.max_memory_allocated()
        out[name] = {
            "forward_mib": (after_forward - before) / 2**20,
            "step_mib": (peak - after_forward) / 2**20,
            "peak_mib": peak / 2**20,
            "how": "cuda.max_memory_allocated",
        }
        del losses, z
    bench.clear()
    return out


def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _trim_heap() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def _maxrss_kib() -> int:
    scale = 1024 if sys.platform == "darwin" else 1  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // scale


def memory_worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """One step of one variant in this fresh process; the growth of its RSS during the step."""
    _setup(cfg)
    device = cfg["device"]
    name = cfg["variant"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", DeprecationWarning)
        # Load what the variant loads lazily (solvers, vmap rules) so that it is not counted.
        tiny = build_bench(cfg["model"], cfg["k"], TINY_D, device)
        make_step(tiny, name, cfg["gramian_block_numel"])(*tiny.forward())
        del tiny
        bench = build_bench(cfg["model"], cfg["k"], cfg["d"], device)
        fn = make_step(bench, name, cfg["gramian_block_numel"])
        _trim_heap()
        rss0 = _status_kib("VmRSS") or _maxrss_kib()
        losses, z = bench.forward()
        _trim_heap()
        rss1 = _status_kib("VmRSS") or _maxrss_kib()
        reset = _reset_peak_rss() and _status_kib("VmHWM") is not None
        if not reset:
            rss1 = _maxrss_kib()
        fn(losses, z)
        peak = _status_kib("VmHWM") if reset else _maxrss_kib()
    return {
        "forward_mib": (rss1 - rss0) / 1024,
        "step_mib": (peak - rss1) / 1024,
        "peak_mib": peak / 1024,
        "how": "VmHWM reset" if reset else "ru_maxrss delta",
        "notes": _notes(caught),
    }


def _random_jacobian(k: int, d: int, device: str) -> Tensor:
    """K x d rows with random (some negative) correlations: J = A B, A K x K, B K x d."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(k, k, generator=gen) + 0.5
    b = torch.randn(k, d, generator=gen) / math.sqrt(d)
    return (a @ b).to(device)


def aggregation_worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """Aggregation only, on one fixed Jacobian: ours (checked, unchecked) vs TorchJD."""
    _setup(cfg)
    from moo_lenient.methods import get

    device, k = cfg["device"], cfg["k"]
    jac = _random_jacobian(k, cfg["d"], device)
    pref = np.full(k, 1.0 / k)
    values = np.linspace(1.0, 2.0, k)
    calls: dict[str, Callable[[], Any]] = {}
    errors: dict[str, str] = {}
    for m in cfg["methods"]:
        ours = get(m)
        if getattr(ours, "horizon", 0) is None:
            ours.horizon = HORIZON
        calls[f"ours/{m}"] = lambda ours=ours: ours(jac, None, values)
        calls[f"ours-unchecked/{m}"] = lambda ours=ours: ours.aggregate(jac, pref, values)
        if has_torchjd(m):
            try:
                theirs = torchjd_aggregator(m)
            except ImportError as exc:
                errors[f"torchjd/{m}"] = f"{type(exc).__name__}: {exc}"
                continue
            calls[f"torchjd/{m}"] = lambda theirs=theirs: theirs(jac)
    times: dict[str, list[float]] = {n: [] for n in calls}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", DeprecationWarning)
        names = list(calls)
        for r in range(cfg["warmup"] + cfg["repeats"]):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                if name in errors:
                    continue
                try:
                    _sync(device)
                    start = time.perf_counter()
                    calls[name]()
                    _sync(device)
                    t = time.perf_counter() - start
                except Exception as exc:
                    errors[name] = f"{type(exc).__name__}: {str(exc)[:300]}"
                    continue
                if r >= cfg["warmup"]:
                    times[name].append(t * 1e3)
    return {
        "times_ms": {n: v for n, v in times.items() if n not in errors},
        "errors": errors,
        "notes": _notes(caught),
    }


def _child(conn: Any, fn: Callable[[dict[str, Any]], dict[str, Any]], cfg: dict) -> None:
    try:
        out = fn(cfg)
    except BaseException as exc:
        out = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    conn.send(out)
    conn.close()


def run_isolated(ctx: Any, fn: Callable[[dict[str, Any]], dict[str, Any]], cfg: dict) -> dict:
    """``fn(cfg)`` in a fresh process; a crash (e.g. killed for memory) becomes an error."""
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, fn, cfg), daemon=True)
    proc.start()
    send.close()
    result: dict[str, Any] | None = None
    with contextlib.suppress(EOFError):
        while result is None:
            if recv.poll(0.2):
                result = recv.recv()
            elif not proc.is_alive():
                if recv.poll(0.2):
                    result = recv.recv()
                break
    proc.join()
    recv.close()
    if result is None:
        result = {
            "error": f"worker exited with code {proc.exitcode} without a result "
            "(a negative code is a signal; -9 is usually the out-of-memory killer)"
        }
    return result


def mp_context() -> Any:
    """Fresh processes cheaply: a fork server that has imported torch (Linux), else spawn."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        # torch._dynamo: torch.optim imports it on first use (seconds), once here instead.
        preload = ["__main__", "numpy", "torch", "torch._dynamo", "torchjd", "moo_lenient"]
        ctx.set_forkserver_preload(preload)
        return ctx
    return mp.get_context("spawn")


# Orchestration ----------------------------------------------------------------------------------
def environment(args: argparse.Namespace, device: str) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    if device.startswith("cuda"):
        cpu += f"; GPU {torch.cuda.get_device_name(0)}"
    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()

    def version(pkg: str) -> str | None:
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "torch": torch.__version__,
        "torchjd": version("torchjd"),
        "moo_lenient": version("moo_lenient"),
        "python": platform.python_version(),
        "threads": args.threads,
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "loadavg": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "device": device,
        "commit": commit,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/perf.py " + shlex.join(args.argv),
    }


def _medians(times: dict[str, list[float]]) -> dict[str, float]:
    return {n: statistics.median(v) for n, v in times.items() if v}


def run_step_cell(
    ctx: Any, args: argparse.Namespace, model: str, k: int, d: int, env: dict
) -> dict[str, Any]:
    base = {"kind": "step", "model": model, "k": k, "d_target": d}
    need_gib = k * d * 4 / 2**30
    if need_gib > args.max_jacobian_gib:
        return {
            **base,
            "skipped": f"the K x d float32 Jacobian needs {need_gib:.1f} GiB "
            f"> --max-jacobian-gib {args.max_jacobian_gib:g}",
            "env": env,
        }
    names = variant_names(args.modes, args.methods)
    mem_method = memory_method(args.methods)
    cfg = {
        "model": model,
        "k": k,
        "d": d,
        "device": args.device,
        "threads": args.threads,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "gramian_block_numel": args.gramian_block_numel,
        "variants": names,
        "memory_variants": [] if args.no_memory else memory_variants(args.modes, mem_method),
    }
    res = run_isolated(ctx, step_worker, cfg)
    record: dict[str, Any] = {**base, "env": env}
    if "error" in res:
        record["errors"] = {"cell": res["error"]}
        return record
    medians = _medians(res["times_ms"])
    record.update(
        {
            "d": res["d"],
            "d_all": res["d_all"],
            "d_subset": res["d_subset"],
            "width": res["width"],
            "repeats": args.repeats,
            "warmup": args.warmup,
            "gramian_block_numel": args.gramian_block_numel,
            "times_ms": res["times_ms"],
            "median_ms": medians,
            "ratio_to_bwd1": _ratios(medians, "bwd1"),
            "ratio_to_bwdK": _ratios(medians, "bwdK"),
            "errors": res["errors"],
            "notes": res["notes"],
        }
    )
    record["memory_method"] = mem_method
    if res["memory"]:
        record["memory"] = res["memory"]
    elif not args.no_memory:
        record["memory"] = {}
        for name in memory_variants(args.modes, mem_method):
            mem = run_isolated(ctx, memory_worker, {**cfg, "variant": name})
            if "error" in mem:
                record["errors"][f"memory {name}"] = mem["error"]
            else:
                record["memory"][name] = mem
                record["notes"] += [n for n in mem.pop("notes") if n not in record["notes"]]
    return record


def memory_method(methods: list[str]) -> str:
    return "upgrad" if "upgrad" in methods else methods[0]


def memory_variants(modes: Iterable[str], method: str) -> list[str]:
    return variant_names(modes, [method])


def _ratios(medians: dict[str, float], ref: str) -> dict[str, float]:
    if medians.get(ref, 0.0) <= 0.0:
        return {}
    return {n: v / medians[ref] for n, v in medians.items()}


def run_aggregation_cell(
    ctx: Any, args: argparse.Namespace, k: int, d: int, env: dict
) -> dict[str, Any]:
    cfg = {
        "k": k,
        "d": d,
        "device": args.device,
        "threads": args.threads,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "methods": args.methods,
    }
    record: dict[str, Any] = {"kind": "aggregation", "k": k, "d_target": d, "d": d, "env": env}
    res = run_isolated(ctx, aggregation_worker, cfg)
    if "error" in res:
        record["errors"] = {"cell": res["error"]}
        return record
    record.update(
        {
            "repeats": args.repeats,
            "warmup": args.warmup,
            "times_ms": res["times_ms"],
            "median_ms": _medians(res["times_ms"]),
            "errors": res["errors"],
            "notes": res["notes"],
        }
    )
    return record


# Rendering --------------------------------------------------------------------------------------
def load_records(path: Path) -> list[dict[str, Any]]:
    """The cells of perf.jsonl, a cell measured again replacing the older line."""
    latest: dict[tuple, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            latest[_key(rec)] = rec
    return list(latest.values())


def _key(rec: dict[str, Any]) -> tuple:
    return (rec["kind"], rec.get("model", ""), rec["k"], rec["d_target"])


def _ms(x: float | None) -> str:
    if x is None:
        return "not measured"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _x(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def _si(n: int | float) -> str:
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div * 0.9995:  # 999,800 is "1M", not "1e+03k"
            return f"{n / div:.3g}{unit}"
    return f"{n:g}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _sorted(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    order = {m: i for i, m in enumerate(MODELS)}
    return sorted(
        (r for r in records if r["kind"] == kind),
        key=lambda r: (
            order.get(r.get("model", ""), 99),
            r.get("model", ""),
            r["d_target"],
            r["k"],
        ),
    )


def _step_variants(records: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Modes and methods present in the records, in canonical order."""
    seen = {n for r in records for n in r.get("median_ms", {})}
    seen |= {n for r in records for n in r.get("errors", {})}
    modes = [m for m in MODES if any(n.startswith(m + "/") for n in seen)]
    methods: list[str] = []
    for n in sorted(seen):
        if "/" in n and not n.startswith(("ours", "torchjd", "memory")):
            m = n.split("/")[1]
            if m not in methods:
                methods.append(m)
    known = list(DEFAULT_METHODS)
    methods.sort(key=lambda m: (known.index(m) if m in known else len(known), m))
    return modes, methods


def _row_head(rec: dict[str, Any]) -> list[str]:
    d = rec.get("d")
    return [rec["model"], str(rec["k"]), f"{_si(rec['d_target'])} ({_si(d) if d else '?'})"]


def _cell_text(rec: dict[str, Any], name: str) -> str:
    med = rec.get("median_ms", {})
    if name in med:
        rk = rec.get("ratio_to_bwdK", {}).get(name)
        r1 = rec.get("ratio_to_bwd1", {}).get(name)
        return f"{_ms(med[name])} ({_x(rk)} / {_x(r1)})"
    if name in rec.get("errors", {}):
        return "error"
    return "not measured"


def render_step_tables(records: list[dict[str, Any]]) -> list[str]:
    steps = _sorted(records, "step")
    if not steps:
        return ["No step cell was measured."]
    modes, methods = _step_variants(steps)
    out = [
        "Each cell: median ms of `opt.aggregate(losses)` (forward excluded) "
        "(ratio to K backward passes / ratio to one backward). d: grid value "
        "(shared trunk parameters of the model actually built).",
        "",
    ]
    for method in methods:
        out += [f"### Method `{method}`", ""]
        cols = [f"{m}/{method}" for m in modes]
        cols += [f"{v}/{method}" for v in TORCHJD_VARIANTS if has_torchjd(method)]
        header = ["model", "K", "d", "1 bwd ms", "K bwd ms (x 1 bwd)"]
        header += [LABELS.get(c.split("/")[0], c.split("/")[0]) for c in cols]
        rows = []
        for rec in steps:
            failed = rec.get("errors", {}).get("cell")
            if "skipped" in rec or failed:
                why = f"skipped: {rec['skipped']}" if "skipped" in rec else "error (see above)"
                rows.append([*_row_head(rec), why, *([""] * (len(header) - 4))])
                continue
            med = rec.get("median_ms", {})
            bwdk = med.get("bwdK")
            rows.append(
                [
                    *_row_head(rec),
                    _ms(med.get("bwd1")),
                    f"{_ms(bwdk)} ({_x(rec.get('ratio_to_bwd1', {}).get('bwdK'))})"
                    if bwdk is not None
                    else "not measured",
                    *(_cell_text(rec, c) for c in cols),
                ]
            )
        out += [*_table(header, rows), ""]
    if not any(has_torchjd(m) for m in methods):
        out += ["TorchJD has no aggregator for the methods measured.", ""]
    return out


def render_aggregation_table(records: list[dict[str, Any]]) -> list[str]:
    aggs = _sorted(records, "aggregation")
    if not aggs:
        return ["No aggregation cell was measured."]
    methods: list[str] = []
    for rec in aggs:
        for n in (*rec.get("median_ms", {}), *rec.get("errors", {})):
            m = n.split("/")[-1]
            if m not in methods:
                methods.append(m)
    header = [
        "method",
        "K",
        "d",
        "ours ms `method(J)`",
        "ours ms unchecked `aggregate`",
        "TorchJD ms `aggregator(J)`",
        "ours / TorchJD",
    ]
    rows = []
    for m in methods:
        for rec in aggs:
            med = rec.get("median_ms", {})
            ours, theirs = med.get(f"ours/{m}"), med.get(f"torchjd/{m}")
            rows.append(
                [
                    m,
                    str(rec["k"]),
                    _si(rec["d_target"]),
                    _agg_cell(rec, f"ours/{m}"),
                    _agg_cell(rec, f"ours-unchecked/{m}"),
                    _agg_cell(rec, f"torchjd/{m}") if has_torchjd(m) else "no TorchJD aggregator",
                    _x(ours / theirs) if ours is not None and theirs else "-",
                ]
            )
    return [
        "Gramian + weights + combination on one fixed random K x d float32 Jacobian (median ms).",
        "",
        *_table(header, rows),
    ]


def _agg_cell(rec: dict[str, Any], name: str) -> str:
    if name in rec.get("median_ms", {}):
        return _ms(rec["median_ms"][name])
    return "error" if name in rec.get("errors", {}) else "not measured"


def render_memory_table(records: list[dict[str, Any]]) -> list[str]:
    steps = [r for r in _sorted(records, "step") if r.get("memory")]
    if not steps:
        return ["Memory not measured."]
    how = sorted({m["how"] for r in steps for m in r["memory"].values()})
    order = [*BASELINES, *MODES, *TORCHJD_VARIANTS]
    kinds = sorted(
        {n.split("/")[0] for r in steps for n in r["memory"]},
        key=lambda n: order.index(n) if n in order else len(order),
    )
    header = ["model", "K", "d", "method", "forward MiB"]
    header += [LABELS.get(n, n) for n in kinds]
    rows = []
    for rec in steps:
        mem = rec["memory"]
        method = rec.get("memory_method", "?")
        fwd = [m["forward_mib"] for m in mem.values()]
        row = [*_row_head(rec), method, f"{statistics.median(fwd):.1f}"]
        for kind in kinds:
            name = kind if kind in BASELINES else f"{kind}/{method}"
            if name in mem:
                row.append(f"{mem[name]['step_mib']:.1f}")
            elif f"memory {name}" in rec.get("errors", {}) or name in rec.get("errors", {}):
                row.append("error")
            else:
                row.append("not measured")
        rows.append(row)
    meaning = {
        "VmHWM reset": "growth of the process's resident set during the step (peak RSS "
        "after the step minus RSS before it, measured in a fresh process per variant with the "
        "peak mark reset after the forward): an upper-bound proxy of the step's extra tensor "
        "bytes (it counts autograd buffers and allocator slack too)",
        "ru_maxrss delta": "ru_maxrss after the step minus ru_maxrss after the forward, in a "
        "fresh process per variant (process peak RSS; a lower bound of the step's growth if "
        "an earlier peak was higher)",
        "cuda.max_memory_allocated": "torch.cuda.max_memory_allocated() during the step minus "
        "the memory allocated before it (the step's extra tensor bytes)",
    }
    return [
        "Extra memory of one step beyond the forward graph, MiB: "
        + "; ".join(meaning.get(h, h) for h in how)
        + ". 'forward MiB' is what the forward pass added (median over the variants' runs).",
        "",
        *_table(header, rows),
    ]


@dataclass
class Target:
    name: str
    scope: str
    values: list[tuple[str, float]]  # (cell, value) for every measured cell in scope
    threshold: float
    strict: bool = False  # value < threshold (else <=)

    def row(self) -> list[str]:
        if not self.values:
            return [self.name, self.scope, "0", "-", "not measured"]
        cell, worst = max(self.values, key=lambda cv: cv[1])
        ok = worst < self.threshold if self.strict else worst <= self.threshold
        return [
            self.name,
            self.scope,
            str(len(self.values)),
            f"{worst:.2f} ({cell})",
            "met" if ok else "missed",
        ]


def compute_targets(records: list[dict[str, Any]]) -> list[Target]:
    steps = [r for r in _sorted(records, "step") if "skipped" not in r]
    aggs = _sorted(records, "aggregation")
    _, methods = _step_variants(steps)
    agg_methods = []
    for rec in aggs:
        for n in rec.get("median_ms", {}):
            m = n.split("/")[-1]
            if m not in agg_methods and has_torchjd(m):
                agg_methods.append(m)
    targets = []
    for m in agg_methods:
        vals = []
        for rec in aggs:
            med = rec.get("median_ms", {})
            if f"ours/{m}" in med and f"torchjd/{m}" in med:
                cell = f"K={rec['k']}, d={_si(rec['d_target'])}"
                vals.append((cell, med[f"ours/{m}"] / med[f"torchjd/{m}"]))
        targets.append(
            Target(
                f"aggregation `{m}` no slower than TorchJD",
                "ours `method(J)` / TorchJD `aggregator(J)`, every (K, d)",
                vals,
                AGG_TARGET,
            )
        )
    for m in methods or list(DEFAULT_METHODS):
        vals = [
            (_cell(r), r["ratio_to_bwdK"][f"params/{m}"])
            for r in steps
            if f"params/{m}" in r.get("ratio_to_bwdK", {})
        ]
        targets.append(
            Target(
                f"params step `{m}` within {PARAMS_TARGET:.2f}x of K backward",
                "params / K bwd, every (model, K, d)",
                vals,
                PARAMS_TARGET,
            )
        )
    for m in methods or list(DEFAULT_METHODS):
        vals = [
            (_cell(r), r["ratio_to_bwd1"][f"features/{m}"])
            for r in steps
            if r["k"] <= FEATURES_MAX_K
            and r["d_target"] >= FEATURES_MIN_D
            and f"features/{m}" in r.get("ratio_to_bwd1", {})
        ]
        targets.append(
            Target(
                f"features step `{m}` within {FEATURES_TARGET:.1f}x of one backward",
                f"features / 1 bwd, K <= {FEATURES_MAX_K}, d >= {_si(FEATURES_MIN_D)}",
                vals,
                FEATURES_TARGET,
            )
        )
    for model in MODELS:
        with_mem = [
            r
            for r in steps
            if r["model"] == model
            and any(n.startswith("gramian/") for n in r.get("memory", {}))
            and any(n.startswith("params/") for n in r.get("memory", {}))
        ]
        vals = []
        if with_mem:
            top = max(r["d_target"] for r in with_mem)
            for r in with_mem:
                if r["d_target"] != top:
                    continue
                g, p = _step_mib(r, "gramian"), _step_mib(r, "params")
                vals.append((_cell(r) + f", {g:.1f} vs {p:.1f} MiB", g / p if p > 0 else math.inf))
        targets.append(
            Target(
                f"gramian-mode memory below params mode ({model})",
                "gramian / params step memory, every K at the largest d measured",
                vals,
                1.0,
                strict=True,
            )
        )
    return targets


def _step_mib(rec: dict[str, Any], kind: str) -> float:
    """The step memory of a mode, for the record's memory method (else any method)."""
    mem = rec["memory"]
    name = f"{kind}/{rec.get('memory_method')}"
    if name not in mem:
        name = next(n for n in mem if n.startswith(kind + "/"))
    return mem[name]["step_mib"]


def _cell(rec: dict[str, Any]) -> str:
    return f"{rec['model']} K={rec['k']} d={_si(rec['d_target'])}"


def render_targets(records: list[dict[str, Any]]) -> list[str]:
    rows = [t.row() for t in compute_targets(records)]
    return [
        "Computed from the tables above; 'worst' is the largest ratio in scope (the cell named); "
        "'not measured' where no cell in scope was measured.",
        "",
        *_table(["target", "scope", "cells", "worst", "status"], rows),
    ]


def render(records: list[dict[str, Any]]) -> str:
    envs: list[dict[str, Any]] = []
    for rec in records:
        env = {k: rec["env"].get(k) for k in ("torch", "torchjd", "threads", "cpu", "device")}
        if env not in envs:
            envs.append(env)
    busy = sorted(
        {
            (rec["env"]["loadavg"], rec["env"].get("cpu_count"))
            for rec in records
            if (rec["env"].get("loadavg") or 0) > 0.5 * (rec["env"].get("cpu_count") or 1)
        }
    )
    commands = sorted({rec["env"].get("command", "") for rec in records})
    dates = sorted(rec["env"].get("date", "") for rec in records)
    lines = ["# Performance: Jacobian modes vs plain backward and TorchJD", ""]
    lines += [
        f"- torch {e['torch']}, torchjd {e['torchjd']}, {e['threads']} threads, "
        f"device {e['device']}, CPU: {e['cpu']}"
        for e in envs
    ]
    lines += [f"- command: `{c}`" for c in commands]
    if dates:
        lines.append(f"- measured {dates[0]} .. {dates[-1]}")
    if busy:
        load, cores = busy[-1]
        lines.append(
            f"- **the machine was busy**: load average {load:.1f} on {cores} cores when a run "
            "started; these times are contended (with more threads than free cores, OpenMP "
            "waits can make small steps orders of magnitude slower)"
        )
    lines += [
        f"- MLP: {MLP_DEPTH}-layer ReLU trunk on {MLP_IN} inputs, batch {MLP_BATCH}; "
        f"transformer: input projection + {TF_LAYERS}-layer `nn.TransformerEncoder` "
        f"({TF_HEADS} heads, feed-forward 4x width, no dropout), batch {TF_BATCH} x "
        f"{TF_SEQ} tokens, mean-pooled representation z; K linear heads, MSE losses on random "
        "data. Shared parameters = the trunk; `subset` mode takes the weights from the last "
        "trunk layer; `features` mode from z.",
        "- Baselines in the same process, same model: `1 bwd` = `sum(losses).backward()`; "
        "`K bwd` = K `torch.autograd.grad(loss_k, params)`; TorchJD `backward` = "
        "`autojac.backward(losses, inputs=params)` + `jac_to_grad(params, agg)`; TorchJD "
        "`mtl_backward` = `autojac.mtl_backward(losses, features=z, ...)` + "
        "`jac_to_grad(trunk, agg)` (exact trunk Jacobian).",
        "",
    ]
    skipped = [r for r in records if "skipped" in r]
    for r in skipped:
        lines.append(f"- skipped {_cell(r)}: {r['skipped']}")
    errors = [(_what(r), n, e) for r in records for n, e in r.get("errors", {}).items()]
    if skipped or errors:
        lines += [f"- error in {c}, {n}: {e[:200]}" for c, n, e in errors]
        lines.append("")
    notes = sorted({n for r in records for n in r.get("notes", [])})
    if notes:
        lines += ["Warnings raised during the runs:", ""]
        lines += [f"- {n}" for n in notes]
        lines.append("")
    lines += ["## Step time", "", *render_step_tables(records), ""]
    lines += ["## Aggregation only", "", *render_aggregation_table(records), ""]
    lines += ["## Memory", "", *render_memory_table(records), ""]
    lines += ["## Targets", "", *render_targets(records), ""]
    return "\n".join(lines)


# CLI --------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from moo_lenient.methods import available

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="quick")
    parser.add_argument("--ks", type=int, nargs="+", help="numbers of objectives K")
    parser.add_argument("--ds", type=float, nargs="+", help="shared parameter counts d")
    parser.add_argument("--models", nargs="+", choices=MODELS)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--methods", nargs="+", choices=available(), default=list(DEFAULT_METHODS))
    parser.add_argument("--repeats", type=int, help="timed calls per variant (median)")
    parser.add_argument("--warmup", type=int, help="untimed rounds first")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument(
        "--device",
        default="auto",
        help="cpu, cuda or auto (cuda where available); on CUDA memory is "
        "torch.cuda.max_memory_allocated",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--render-only", action="store_true", help="perf.md from perf.jsonl")
    parser.add_argument("--append", action="store_true", help="add to perf.jsonl")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    parser.add_argument("--no-aggregation", action="store_true", help="skip aggregation only")
    parser.add_argument(
        "--gramian-block-numel", type=int, default=None, help="default: the optimizer's"
    )
    parser.add_argument(
        "--doc",
        type=Path,
        default=None,
        help="also write the tables between the perf markers of this markdown file",
    )
    parser.add_argument(
        "--max-jacobian-gib",
        type=float,
        default=16.0,
        help="skip a cell whose K x d float32 Jacobian is larger",
    )
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    grid = GRIDS[args.grid]
    args.ks = args.ks or list(grid.ks)
    args.ds = [int(d) for d in args.ds] if args.ds else list(grid.ds)
    args.models = args.models or list(grid.models)
    args.repeats = grid.repeats if args.repeats is None else args.repeats
    args.warmup = grid.warmup if args.warmup is None else args.warmup
    if args.repeats < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--repeats and --threads must be >= 1, --warmup >= 0")
    if min(args.ks) < 1 or min(args.ds) < 1:
        parser.error("--ks and --ds must be positive")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out
    jsonl, md = out / "perf.jsonl", out / "perf.md"
    if not args.render_only:
        torch.set_num_threads(args.threads)
        out.mkdir(parents=True, exist_ok=True)
        env = environment(args, args.device)
        ctx = mp_context()
        cells = [("aggregation", "", k, d) for d in args.ds for k in args.ks]
        if args.no_aggregation:
            cells = []
        cells += [("step", m, k, d) for m in args.models for d in args.ds for k in args.ks]
        start = time.perf_counter()
        with jsonl.open("a" if args.append else "w") as fh:
            for kind, model, k, d in cells:
                t0 = time.perf_counter()
                if kind == "aggregation":
                    rec = run_aggregation_cell(ctx, args, k, d, env)
                else:
                    rec = run_step_cell(ctx, args, model, k, d, env)
                rec["wall_s"] = time.perf_counter() - t0
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
                print(_progress(rec), flush=True)
        print(f"measured {len(cells)} cells in {time.perf_counter() - start:.1f} s", flush=True)
    if not jsonl.exists():
        print(f"no results to render: {jsonl} does not exist", file=sys.stderr)
        return 1
    records = load_records(jsonl)
    text = render(records)
    md.write_text(text + "\n")
    if args.doc is not None:
        write_section(args.doc, text)
    print(text)
    print(f"wrote {md}" + ("" if args.render_only else f" and {jsonl}"))
    return 0


BEGIN, END = "<!-- perf:begin -->", "<!-- perf:end -->"


def write_section(path: Path, text: str) -> None:
    """Replace what lies between the perf markers of ``path`` (appended if absent)."""
    doc = path.read_text() if path.exists() else ""
    if text.startswith("# "):  # the report's title becomes a section of the host page
        text = "## Measured: " + text[2:]
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        doc = head + block + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    path.write_text(doc)


def _what(rec: dict[str, Any]) -> str:
    if rec["kind"] == "step":
        return _cell(rec)
    return f"aggregation K={rec['k']} d={_si(rec['d_target'])}"


def _progress(rec: dict[str, Any]) -> str:
    what = _what(rec)
    if "skipped" in rec:
        return f"{what}: skipped ({rec['skipped']})"
    med = rec.get("median_ms", {})
    parts = [f"{n} {_ms(v)}" for n, v in list(med.items())[:4]]
    errs = f", {len(rec.get('errors', {}))} error(s)" if rec.get("errors") else ""
    return f"{what}: {rec['wall_s']:.1f} s; " + ", ".join(parts) + errs


if __name__ == "__main__":
    sys.exit(main())
