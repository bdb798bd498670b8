"""AutonomousOptimizer and policy files: export/load, refusal of unsafe files, state, registry."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

import problems
from raybench import optimizers
from raybench.optimizers import OptimizerError
from raybench.optimizers.autonomous import (
    AutonomousOptimizer,
    CoordinatewisePolicy,
    PolicyError,
    load_policy,
    save_policy,
)
from raybench.train import Run
from rl.env import OptimizationEnv


@pytest.fixture()
def policy_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    policy = CoordinatewisePolicy(history=25, hidden=(16, 16))
    with torch.no_grad():
        policy.net[-1].weight.normal_(0, 0.5)  # a policy that actually moves things
    weights, _ = save_policy(policy, tmp_path / "p", update_scale=0.05, info={"family": "quadratic"})
    return Path(weights)


def test_export_then_load_gives_identical_actions(policy_file: Path) -> None:
    policy, meta = load_policy(policy_file)
    again, _ = load_policy(policy_file.with_suffix(".json"))  # either file of the pair
    obs = torch.rand(7, 25, 11) * 2 - 1
    torch.testing.assert_close(policy.act(obs), again.act(obs), rtol=0, atol=0)
    assert meta["history"] == 25 and meta["hidden"] == [16, 16] and meta["update_scale"] == 0.05
    assert meta["training"]["family"] == "quadratic" and len(meta["sha256"]) == 64


def test_pickle_policy_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "evil.safetensors"
    bad.write_bytes(pickle.dumps({"net.0.weight": [1.0]}))
    with pytest.raises(PolicyError, match="pickle"):
        load_policy(bad)
    torch.save(CoordinatewisePolicy().state_dict(), tmp_path / "ts.safetensors")
    with pytest.raises(PolicyError, match="pickle"):
        load_policy(tmp_path / "ts.safetensors")


def test_tampered_policy_is_refused(policy_file: Path) -> None:
    data = bytearray(policy_file.read_bytes())
    data[-1] ^= 0x01
    policy_file.write_bytes(bytes(data))
    with pytest.raises(PolicyError, match="sha256"):
        load_policy(policy_file)


def test_policy_with_wrong_tensors_is_refused_even_with_matching_hash(policy_file: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    meta_path = policy_file.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    # Someone re-saves other tensors and even fixes the hash: names and shapes still must fit.
    save_file({"net.0.weight": torch.zeros(3, 3)}, str(policy_file))
    import hashlib

    meta["sha256"] = hashlib.sha256(policy_file.read_bytes()).hexdigest()
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(PolicyError, match="missing"):
        load_policy(policy_file)


def test_missing_metadata_and_missing_file_are_clear(policy_file: Path, tmp_path: Path) -> None:
    policy_file.with_suffix(".json").unlink()
    with pytest.raises(PolicyError, match="metadata"):
        load_policy(policy_file)
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "nothing.safetensors")


def test_registry_needs_a_policy_and_reports_bad_files(policy_file: Path, tmp_path: Path) -> None:
    with pytest.raises(OptimizerError, match="autonomous needs policy="):
        optimizers.resolve_hparams("autonomous")
    (tmp_path / "x.safetensors").write_bytes(pickle.dumps(1))
    with pytest.raises(OptimizerError, match="pickle"):
        optimizers.resolve_hparams("autonomous", {"policy": str(tmp_path / "x.safetensors")})
    hp = optimizers.resolve_hparams("autonomous", {"policy": str(policy_file), "lr_scale": "2"})
    assert hp == {"policy": str(policy_file), "lr_scale": 2.0}
    with pytest.raises(OptimizerError, match="lr_scale"):
        optimizers.resolve_hparams("autonomous", {"policy": str(policy_file), "lr_scale": -1})


def test_step_without_closure_is_a_clear_error(policy_file: Path) -> None:
    p = torch.nn.Parameter(torch.ones(3))
    opt = AutonomousOptimizer([p], policy=str(policy_file))
    with pytest.raises(RuntimeError, match="closure"):
        opt.step()


def _quadratic_closure(inst):
    return inst.closure(None)


def test_optimizer_matches_the_environment_it_was_trained_in(policy_file: Path) -> None:
    """The optimizer's observation and update are exactly the env's: same trajectory."""
    policy, meta = load_policy(policy_file)
    env = OptimizationEnv({"family": "quadratic", "pool": "heldout", "update_scale": meta["update_scale"]})
    obs, _ = env.reset(seed=0, options={"instance_seed": 3})
    inst = problems.get("quadratic").instance(3)
    opt = AutonomousOptimizer(inst.parameters(), policy=str(policy_file))
    for _ in range(30):
        with torch.no_grad():
            action = policy.act(torch.from_numpy(obs)).numpy()
        obs, *_ = env.step(action)
        opt.step(inst.closure(None))
    torch.testing.assert_close(inst.model.x.detach(), env._params[0].detach(), rtol=1e-5, atol=1e-5)
    assert not torch.equal(inst.model.x.detach(), problems.get("quadratic").instance(3).model.x.detach())


def test_state_dict_round_trips(policy_file: Path) -> None:
    def make():
        inst = problems.get("logistic").instance(0)
        return inst, AutonomousOptimizer(inst.parameters(), policy=str(policy_file))

    a_inst, a = make()
    for _ in range(30):  # past the 25-step window, so the ring of history has wrapped
        a.step(a_inst.closure(None))
    b_inst, b = make()
    b_inst.model.load_state_dict(a_inst.model.state_dict())
    b.load_state_dict(a.state_dict())
    for _ in range(5):
        la, lb = a.step(a_inst.closure(None)), b.step(b_inst.closure(None))
        assert float(la.detach()) == float(lb.detach())
    for pa, pb in zip(a_inst.parameters(), b_inst.parameters()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    assert a.state_dict()["state"][0]["step"] == 35


def test_drives_the_mnist_mlp_it_was_not_trained_on(policy_file: Path) -> None:
    run = Run("mnist_mlp", "autonomous", {"policy": str(policy_file)}, seed=0, steps=5, eval_every=5,
              options={"dataset": "mnist_subset"})
    run.advance()
    summary = run.summary(test=False)
    assert summary["status"] == "ok", summary["error"]
    assert summary["steps"] == 5 and summary["grad_evals"] == 5
    assert sum(p.numel() for p in run.instance.parameters()) > 50_000


def test_fast_first_layer_equals_the_plain_network() -> None:
    """``from_observation`` (used by the optimizer and the RLModule) is ``forward`` on the features."""
    from raybench.optimizers.autonomous import coordinate_features

    torch.manual_seed(1)
    policy = CoordinatewisePolicy(history=25, hidden=(32, 32))
    torch.nn.init.normal_(policy.net[-1].weight)
    obs = torch.rand(4, 25, 13) * 2 - 1
    torch.testing.assert_close(policy.from_observation(obs), policy(coordinate_features(obs)))
