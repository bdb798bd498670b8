"""AutonomousOptimizer and policy files: export/load, the load cache, refusal of unsafe files,
the step shared with the environment, state, registry."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import pytest
import torch

from raybench import optimizers, problems, schedules
from raybench.learned import policy as policy_module
from raybench.learned.features import (
    FEATURES,
    GROUPS,
    History,
    Layout,
    coordinate_features,
    observation,
)
from raybench.learned.policy import CoordinatewisePolicy, PolicyError, load_policy, read_policy, save_policy
from raybench.optimizers import OptimizerError
from raybench.optimizers.autonomous import AutonomousOptimizer
from raybench.rl.env import OptimizationEnv
from raybench.train import Run


def _policy_file(path: Path, **layout: object) -> Path:
    torch.manual_seed(0)
    policy = CoordinatewisePolicy(history=25, hidden=(16, 16), **layout)
    with torch.no_grad():
        policy.net[-1].weight.normal_(0, 0.5)  # a policy that actually moves things
    weights, _ = save_policy(policy, path, update_scale=0.05, info={"family": "quadratic"})
    return Path(weights)


@pytest.fixture()
def policy_file(tmp_path: Path) -> Path:
    """A policy of the current layout with every input group (the default for new policies)."""
    return _policy_file(tmp_path / "p")


def test_export_then_load_gives_identical_actions(policy_file: Path) -> None:
    loaded = load_policy(policy_file)
    policy, meta = loaded.network, loaded.metadata
    again = read_policy(policy_file.with_suffix(".json")).network  # either file of the pair, uncached
    obs = torch.rand(7, 28, 11) * 2 - 1
    torch.testing.assert_close(policy.act(obs), again.act(obs), rtol=0, atol=0)
    assert loaded.update_scale == 0.05 and loaded.history == 25 and loaded.layout == Layout(25)
    assert meta["history"] == 25 and meta["hidden"] == [16, 16] and meta["update_scale"] == 0.05
    assert meta["features"] == FEATURES and meta["inputs"] == list(GROUPS)
    assert meta["training"]["family"] == "quadratic" and len(meta["sha256"]) == 64


def test_pickle_policy_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "evil.safetensors"
    bad.write_bytes(pickle.dumps({"net.0.weight": [1.0]}))
    with pytest.raises(PolicyError, match="pickle"):
        load_policy(bad)
    torch.save(CoordinatewisePolicy().state_dict(), tmp_path / "ts.safetensors")
    with pytest.raises(PolicyError, match="pickle"):
        load_policy(tmp_path / "ts.safetensors")


def test_cached_load_rereads_only_a_changed_file(policy_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    real_read = policy_module.read_policy
    monkeypatch.setattr(policy_module, "read_policy", lambda path: reads.append(str(path)) or real_read(path))
    hashes: list[str] = []
    real_sha = policy_module._sha256
    monkeypatch.setattr(policy_module, "_sha256", lambda path: hashes.append(path) or real_sha(path))

    first = load_policy(policy_file)
    assert len(reads) == 1 and len(hashes) == 1
    # The same unchanged file, by either name of the pair: neither re-read nor re-hashed.
    assert load_policy(policy_file) is first
    assert load_policy(str(policy_file.with_suffix(".json"))) is first
    assert len(reads) == 1 and len(hashes) == 1

    # Rewritten with other weights (same size): read again, and the new weights are used.
    changed = CoordinatewisePolicy(history=25, hidden=(16, 16))
    with torch.no_grad():
        changed.net[-1].bias.fill_(1.0)
    save_policy(changed, policy_file, update_scale=0.05)
    hashes.clear()
    second = load_policy(policy_file)
    assert len(reads) == 2 and len(hashes) == 1 and second is not first
    obs = torch.zeros(28, 4)
    torch.testing.assert_close(second.network.act(obs), changed.act(obs), rtol=0, atol=0)
    assert load_policy(policy_file) is second and len(reads) == 2

    # The registry's hyperparameter check and the optimizer it builds share that one read.
    hp = optimizers.resolve_hparams("autonomous", {"policy": str(policy_file)})
    opt = optimizers.make("autonomous", [torch.nn.Parameter(torch.ones(3))], **hp)
    assert opt.policy is second and len(reads) == 2


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
    assert hp == {"policy": str(policy_file), "lr_scale": 2.0, **schedules.DEFAULTS}  # constant: no scheduler
    with pytest.raises(OptimizerError, match="lr_scale"):
        optimizers.resolve_hparams("autonomous", {"policy": str(policy_file), "lr_scale": -1})


def test_step_without_closure_is_a_clear_error(policy_file: Path) -> None:
    p = torch.nn.Parameter(torch.ones(3))
    opt = AutonomousOptimizer([p], load_policy(policy_file))
    with pytest.raises(RuntimeError, match="closure"):
        opt.step()
    with pytest.raises(TypeError, match="policy file .* or a LoadedPolicy"):
        AutonomousOptimizer([p], {"weights": str(policy_file)})


def test_policy_given_as_a_path_is_the_loaded_policy(policy_file: Path, tmp_path: Path) -> None:
    """``policy=PATH`` (str, os.PathLike, or the metadata's .json) works as a loaded policy does:
    the same (cached) policy object and the same updates, step for step."""
    def steps(policy: object) -> torch.Tensor:
        torch.manual_seed(1)
        target = torch.randn(5)
        x = torch.nn.Parameter(torch.zeros(5))
        opt = AutonomousOptimizer([x], policy=policy, lr_scale=0.5)

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = ((x - target) ** 2).sum()
            loss.backward()
            return loss

        for _ in range(4):
            opt.step(closure)
        return x.detach().clone()

    loaded = load_policy(policy_file)
    for given in (policy_file, str(policy_file), str(policy_file.with_suffix(".json"))):
        assert AutonomousOptimizer([torch.nn.Parameter(torch.ones(2))], policy=given).policy is loaded
    expected = steps(loaded)
    assert not torch.equal(expected, torch.zeros(5))
    assert torch.equal(steps(policy_file), expected) and torch.equal(steps(str(policy_file)), expected)
    with pytest.raises(PolicyError):
        AutonomousOptimizer([torch.nn.Parameter(torch.ones(2))], policy=tmp_path / "nothing.safetensors")


@pytest.mark.parametrize("inputs", [GROUPS, ("gradient", "momentum")])
def test_env_and_optimizer_apply_the_identical_update(inputs: tuple[str, ...], tmp_path: Path) -> None:
    """Same history + same policy + same gradient -> the same observation and parameter change, to the bit.

    Both go through ``raybench.learned.step``: the env observes, the policy acts, the env
    applies; the optimizer does the three in one ``step``. Its moving averages too."""
    loaded = load_policy(_policy_file(tmp_path / "p", inputs=inputs))
    env = OptimizationEnv({"family": "quadratic", "pool": "heldout", "update_scale": loaded.update_scale,
                           "inputs": list(inputs)})
    assert env.layout == loaded.layout
    obs, _ = env.reset(seed=0, options={"instance_seed": 3})
    inst = problems.get("quadratic").instance(3)
    opt = AutonomousOptimizer(inst.parameters(), loaded)
    x = inst.model.x
    for step in range(30):  # past the 25-step window
        env_before, opt_before = env._params[0].detach().clone(), x.detach().clone()
        torch.testing.assert_close(opt_before, env_before, rtol=0, atol=0)
        env_history, env_obs = env._hist, torch.from_numpy(obs)  # what the env's policy acts on
        with torch.no_grad():
            action = loaded.network.act(env_obs).numpy()
        obs, *_ = env.step(action)
        opt.step(inst.closure(None))
        # The optimizer recorded the same history (objective, gradient, moving averages) ...
        state = opt.state[x]
        history = History(state["f_hist"], state["g_hist"], state["m"], state["v"])
        for mine, env_own in zip(history, env_history):
            torch.testing.assert_close(mine, env_own, rtol=0, atol=0)
        # ... so it observed the same ...
        torch.testing.assert_close(observation(history, step + 1, loaded.layout), env_obs, rtol=0, atol=0)
        # ... and moved the parameters by the same tensor.
        torch.testing.assert_close(x.detach() - opt_before, env._params[0].detach() - env_before, rtol=0, atol=0)
    assert not torch.equal(x.detach(), problems.get("quadratic").instance(3).model.x.detach())


def test_optimizer_matches_the_environment_it_was_trained_in(policy_file: Path) -> None:
    """The optimizer's observation and update are exactly the env's: same trajectory."""
    loaded = load_policy(policy_file)
    policy, meta = loaded.network, loaded.metadata
    env = OptimizationEnv({"family": "quadratic", "pool": "heldout", "update_scale": meta["update_scale"]})
    obs, _ = env.reset(seed=0, options={"instance_seed": 3})
    inst = problems.get("quadratic").instance(3)
    opt = AutonomousOptimizer(inst.parameters(), loaded)
    for _ in range(30):
        with torch.no_grad():
            action = policy.act(torch.from_numpy(obs)).numpy()
        obs, *_ = env.step(action)
        opt.step(inst.closure(None))
    torch.testing.assert_close(inst.model.x.detach(), env._params[0].detach(), rtol=1e-5, atol=1e-5)
    assert not torch.equal(inst.model.x.detach(), problems.get("quadratic").instance(3).model.x.detach())


@pytest.mark.parametrize("layout", [{}, {"inputs": ["objective", "gradient"]}], ids=["all-groups", "no-momentum"])
def test_state_dict_round_trips(layout: dict, tmp_path: Path) -> None:
    policy_file = _policy_file(tmp_path / "p", **layout)

    def make():
        inst = problems.get("logistic").instance(0)
        return inst, AutonomousOptimizer(inst.parameters(), load_policy(policy_file))

    a_inst, a = make()
    for _ in range(30):  # past the 25-step window, so the ring of history has wrapped
        a.step(a_inst.closure(None))
    keys = {"step", "f_hist", "g_hist"} | ({"m", "v"} if not layout else set())
    assert set(a.state_dict()["state"][0]) == keys, "moving averages are state only where they are observed"
    b_inst, b = make()
    b_inst.model.load_state_dict(a_inst.model.state_dict())
    saved = io.BytesIO()  # through a checkpoint's bytes, as Run's state_dict is saved and resumed
    torch.save(a.state_dict(), saved)
    saved.seek(0)
    b.load_state_dict(torch.load(saved, weights_only=True))
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


@pytest.mark.parametrize("layout", [{}, {"inputs": ["objective", "gradient"]}, {"inputs": ["momentum"]},
                                    {"inputs": "objective,momentum"}, {"inputs": ["objective"]}],
                         ids=["all-groups", "no-momentum", "momentum", "objective+momentum", "objective"])
def test_fast_first_layer_equals_the_plain_network(layout: dict) -> None:
    """``from_observation`` (used by the optimizer and the RLModule) is ``forward`` on the features."""
    torch.manual_seed(1)
    policy = CoordinatewisePolicy(history=25, hidden=(32, 32), **layout)
    torch.nn.init.normal_(policy.net[-1].weight)
    obs = torch.rand(4, policy.layout.rows, 13) * 2 - 1
    features = coordinate_features(obs, policy.layout)
    assert features.shape == (4, 12, policy.layout.width) == (4, 12, policy.net[0].in_features)
    torch.testing.assert_close(policy.from_observation(obs), policy(features))
    with pytest.raises(ValueError, match="rows"):
        policy.from_observation(obs[:, 1:])
