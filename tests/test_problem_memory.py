"""Every problem declares the memory an instance needs; runs that cannot fit are refused.

``Problem.memory`` (``problems.base``) estimates the bytes one run needs from its options; the
estimates are held here against what instances really allocate, ``raybench run`` refuses options
whose estimate exceeds the machine's memory (exit 2, one line, before any run), and the runner
asks Ray for the estimate of each large run (``runner.resources_for``).

What "really allocate" means here (``allocated_bytes``): an instance is built, one training
step taken (the loss of ``batch(0)``, its backward pass, one ``torch.optim.Adam`` step), and the
distinct tensor storages counted: every tensor the instance holds (data, model parameters,
matrices), the parameters' gradients, Adam's state, and every tensor autograd saved for the
backward pass (``torch.autograd.graph.saved_tensors_hooks``): torch's own accounting of the
activations, not a formula. The quadratic's estimate counts the peak while it is built (four
float64 matrices at once), which a finished instance no longer holds; ``test_quadratic_peak``
measures that peak as the growth of the process's peak resident memory in a fresh interpreter.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import weakref

import pytest
import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from raybench import problems, runner
from raybench.problems import char_gpt
from raybench.problems.quadratic import QuadraticInstance
from raybench.spec import RunSpec
from tests.conftest import ROOT, cli, ok, session_ray

# Options at which each built-in is measured: small, but large enough that the sizes the
# estimate scales with (dimension, data, model, batch) dominate the fixed small tensors.
MEASURED = {
    "quadratic": {"dim": 300},
    "logistic": {"dim": 50, "n_train": 4000},
    "robust_regression": {"dim": 50, "n_train": 4000},
    "rosenbrock": {"dim": 100_000},
    "mlp": {"hidden": 256},
    "mnist_mlp": {"dataset": "mnist_subset"},
    "mnist_cnn": {"dataset": "mnist_subset"},
    "mnist_autoencoder": {"dataset": "mnist_subset"},
    "mnist1d_mlp": {"num_samples": 2000},
    "mnist1d_cnn": {"num_samples": 2000},
    "char_gpt": {},
}
# Not measured here: full Fashion-MNIST and CIFAR-100 are not on this machine (their estimates
# count the full data sets, which tiny test files would not hold).
NOT_MEASURED = {"fashion_mlp", "fashion_cnn", "cifar100_cnn"}


def _tensors(obj, seen: set[int], out: list[torch.Tensor]) -> None:
    """Every tensor reachable from ``obj`` through attributes, containers, modules and dataclasses."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, torch.nn.Module):
        out.extend(obj.parameters())
        out.extend(obj.buffers())
    elif isinstance(obj, dict):
        for v in obj.values():
            _tensors(v, seen, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _tensors(v, seen, out)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            _tensors(getattr(obj, f.name), seen, out)
    elif hasattr(obj, "__dict__") and not isinstance(obj, type) and type(obj).__module__.startswith("raybench"):
        for v in vars(obj).values():
            _tensors(v, seen, out)


def _storages(tensors) -> dict[int, int]:
    return {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}


class LivePeak(TorchDispatchMode):
    """The peak bytes of the tensors torch's operators make while it is on and that are still
    alive (each new storage counted when an operator returns it, uncounted when its tensor is
    collected), leaving out the storages in ``held``."""

    def __init__(self, held: set[int]) -> None:
        super().__init__()
        self.held, self.live, self.peak = held, 0, 0

    def _free(self, nbytes: int) -> None:
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in pytree.tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in self.held:
                nbytes = t.untyped_storage().nbytes()
                self.held.add(t.untyped_storage().data_ptr())
                self.live += nbytes
                weakref.finalize(t, self._free, nbytes)
        self.peak = max(self.peak, self.live)
        return out


def allocated_bytes(problem: str, **options) -> int:
    """What an instance holds after one training step, plus the larger of what autograd saved for
    that step's backward pass and the peak of an evaluation's own tensors (see the module
    docstring), each storage counted once."""
    inst = problems.get(problem).instance(0, **options)
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = inst.loss(inst.batch(0))
    loss.backward()
    opt = torch.optim.Adam(inst.parameters())
    opt.step()
    found: list[torch.Tensor] = []
    _tensors(vars(inst), set(), found)
    found += [p.grad for p in inst.parameters() if p.grad is not None]
    found += [v for state in opt.state.values() for v in state.values() if isinstance(v, torch.Tensor)]
    held = _storages(found)
    activations = sum(n for ptr, n in _storages(saved).items() if ptr not in held)
    with LivePeak(set(held)) as evaluation:
        inst.evaluate("val")
    return sum(held.values()) + max(activations, evaluation.peak)


def test_every_built_in_problem_declares_an_estimate():
    built_in = [n for n in problems.names() if problems.get(n).origin == "raybench"]
    assert set(built_in) == set(MEASURED) | NOT_MEASURED
    for name in built_in:
        estimate = problems.get(name).memory_bytes()
        assert estimate is not None and estimate > 0, name


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_estimate_is_within_a_factor_of_four_of_what_an_instance_allocates(name):
    options = MEASURED[name]
    estimate = problems.get(name).memory_bytes(**options)
    measured = allocated_bytes(name, **options)
    assert 0.25 <= estimate / measured <= 4, f"{name}: estimate {estimate:.3g} B, measured {measured:.3g} B"


def test_char_gpt_estimate_follows_size_and_context():
    gpt = problems.get("char_gpt")
    assert gpt.memory_bytes(size="gpu") > 10 * gpt.memory_bytes()
    assert gpt.memory_bytes(context=128) > gpt.memory_bytes(context=64)
    shape = char_gpt.resolve_shape("cpu")
    assert char_gpt.parameter_count(73, shape, tied=False) == 113_536  # the docstring's count
    measured = allocated_bytes("char_gpt", context=128, batch_size=16, width=96, heads=4)
    estimate = gpt.memory_bytes(context=128, batch_size=16, width=96, heads=4)
    assert 0.25 <= estimate / measured <= 4


_PEAK = """
import json
from raybench import problems

def peak_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))

quadratic = problems.get("quadratic")
quadratic.instance(0, dim=50)  # imports and first-call allocations out of the way
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak to the resident memory now, whatever the imports' peak was
before = peak_kib()
quadratic.instance(0, dim={dim})
print(json.dumps((peak_kib() - before) * 1024))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads and resets Linux's peak resident memory")
def test_quadratic_peak():
    """The peak of building a quadratic (its estimate) against the growth of peak resident memory."""
    dim = 2000
    proc = ok(subprocess.run([sys.executable, "-c", _PEAK.replace("{dim}", str(dim))], capture_output=True,
                             text=True, cwd=ROOT, timeout=120))
    grown = json.loads(proc.stdout.strip().splitlines()[-1])
    assert grown > 0, proc.stdout + proc.stderr
    estimate = problems.get("quadratic").memory_bytes(dim=dim)
    assert 0.5 <= estimate / grown <= 2, f"estimate {estimate:.3g} B, peak resident memory grew {grown:.3g} B"


def _one_line_exit_2(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_run_check_refuses_a_quadratic_too_large_for_this_machine(tmp_path):
    line = _one_line_exit_2(cli("run", "--problems", "quadratic", "--option", "dim=1e9", "--optimizers", "adam",
                                "--seeds", "1", "--out", str(tmp_path / "r"), "--check"))
    assert line.startswith("raybench: error: quadratic with dim=1e9 needs about 3.2e+19 bytes (27.8 EiB) per run; "
                           "this machine has "), line
    assert line.endswith("choose smaller options"), line
    assert not (tmp_path / "r").exists()


def test_run_check_accepts_options_that_fit(tmp_path):
    ok(cli("run", "--problems", "quadratic", "--option", "dim=100", "--optimizers", "adam", "--seeds", "1",
           "--out", str(tmp_path / "r"), "--check"))


def test_gpu_runs_are_not_checked_against_this_machine(tmp_path):
    """A GPU run's model, state and activations live on the GPU: the host's memory is no bound."""
    specs = [RunSpec.build("char_gpt", "adam", 0, options={"size": "gpt2_small", "batch_size": 4096})]
    with pytest.raises(runner.UsageError):
        runner.check_memory(specs, gpus_per_run=0, have=2**30)
    runner.check_memory(specs, gpus_per_run=1, have=2**30)


def test_large_runs_ask_ray_for_their_estimate_small_ones_for_nothing():
    big = RunSpec.build("quadratic", "adam", 0, options={"dim": 3000})
    small = RunSpec.build("quadratic", "adam", 0)
    estimates = runner.memory_estimates([big, small])
    assert estimates[big.run_id] == problems.get("quadratic").memory_bytes(dim=3000) >= runner.MEMORY_REQUEST_MIN
    asked = runner.resources_for(big, cpus_per_run=1, gpus_per_run=0, estimate=estimates[big.run_id])
    assert asked == {"num_cpus": 1, "num_gpus": 0, "memory": int(estimates[big.run_id])}
    assert runner.resources_for(small, cpus_per_run=1, gpus_per_run=0, estimate=estimates[small.run_id]) == \
        {"num_cpus": 1, "num_gpus": 0}
    assert "memory" not in runner.resources_for(big, cpus_per_run=1, gpus_per_run=1, estimate=estimates[big.run_id])
    assert "memory" not in runner.resources_for(big, cpus_per_run=1, gpus_per_run=0, estimate=None)
    needs, memory = runner.largest_memory_request([small, big], gpus_per_run=0)
    assert memory == int(estimates[big.run_id]) and needs.startswith("quadratic with dim=3000 needs about")


class AssignedMemory(QuadraticInstance):
    """A small quadratic whose ``param_error`` reports the memory Ray assigned to its task."""

    def evaluate(self, split: str = "val") -> dict[str, float]:
        import ray

        assigned = ray.get_runtime_context().get_assigned_resources().get("memory", 0.0)
        return {**super().evaluate(split), "param_error": float(assigned)}


PROBE = problems.Problem(
    name="memory_probe", description="a quadratic reporting the memory Ray gave its run",
    make=lambda seed, declared: AssignedMemory(seed, dim=4, eig_min=1.0, eig_max=2.0, steps=2, target_gap=1e-3),
    options={"declared": problems.Option(1e8, float)}, metrics={"suboptimality": "min", "loss": "min", "param_error": "min"},
    memory=lambda declared: declared,
)
"""Declares ``declared`` bytes; reached by Ray's workers by import path, as a user's problem is."""


@pytest.mark.ray
def test_ray_gives_a_large_run_its_estimate_and_refuses_one_no_node_can_hold(tmp_path):
    """Through the real embedded Ray: a run declaring 100 MB gets 100 MB of Ray's memory
    resource, one declaring 1 MB asks for none; a request above what Ray lets tasks use is
    refused before any run."""
    ray = session_ray()
    specs = [RunSpec.build(f"memory_probe={__name__}:PROBE", "sgd", 0, options={"declared": declared})
             for declared in (1e8, 1e6)]
    runs, _ = runner.run_suite(specs, str(tmp_path / "r"), progress=False)
    assigned = dict(zip(runs["options"].map(lambda o: json.loads(o)["declared"]),
                        runs["final_val_param_error"], strict=True))
    assert assigned == {1e8: 1e8, 1e6: 0.0}, runs[["status", "error"]].to_dict("records")
    from raybench.ray_utils import ensure_resources

    offered = max(n["Resources"].get("memory", 0) for n in ray.nodes() if n["Alive"])
    with pytest.raises(runner.UsageError, match="lets tasks use"):
        ensure_resources(cpus=1, gpus=0, embedded=True, pending_timeout=0, memory=("quadratic needs a lot", offered + 1))
    ensure_resources(cpus=1, gpus=0, embedded=True, pending_timeout=0, memory=("quadratic needs little", 1.0))
