"""The learned policy's input groups: scale invariance of each, Adam's arithmetic in the momenta,
time invariance, ablation, the layout in policy files (files of the unreleased v1 layout refused), ``--inputs``."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from raybench.errors import UsageError
from raybench.learned.features import (
    FEATURES,
    FEATURES_V1,
    GROUPS,
    MOMENTUM_BETAS,
    SECOND_MOMENT_BETA,
    Layout,
    empty_history,
    observation,
    parse_inputs,
    record,
)
from raybench.learned.policy import (
    FORMAT,
    CoordinatewisePolicy,
    PolicyError,
    load_policy,
    read_policy,
    save_policy,
)
from raybench.rl.settings import TrainSettings, load_settings, resumed, save_settings
from tests.conftest import raybench

H = 8
K = len(MOMENTUM_BETAS)
SUBSETS = [g for r in range(1, len(GROUPS) + 1) for g in itertools.combinations(GROUPS, r)]


def _region(obs: torch.Tensor, group: str) -> torch.Tensor:
    """The entries of ``obs`` (``(..., H + K, 1 + n)``) that ``group`` fills."""
    return {"objective": obs[..., :H, 0], "gradient": obs[..., :H, 1:], "momentum": obs[..., H:, 1:]}[group]


def _observations(fs: torch.Tensor, gs: torch.Tensor, layout: Layout) -> list[torch.Tensor]:
    """The observation after each of the steps ``(fs[t], gs[t])``."""
    history, out = empty_history(layout, gs.shape[-1]), []
    for t in range(len(fs)):
        history = record(history, fs[t], gs[t])
        out.append(observation(history, t + 1, layout))
    return out


def _trajectory(steps: int = 30, n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """A descent-like objective and gradients whose coordinates differ by orders of magnitude;
    the last coordinate's gradient is always 0."""
    gen = torch.Generator().manual_seed(0)
    fs = 10.0 + torch.cumsum(-torch.rand(steps, generator=gen) + 0.3 * torch.randn(steps, generator=gen), 0)
    gs = torch.randn(steps, n, generator=gen) * torch.tensor([1.0, 1e3, 1e-3, 5.0, 0.1, 0.0])[:n]
    return fs, gs


@pytest.mark.parametrize("groups", [(g,) for g in GROUPS] + [GROUPS], ids=lambda g: "+".join(g))
def test_every_group_is_invariant_to_the_scale_of_the_loss_and_of_each_coordinate(groups: tuple[str, ...]) -> None:
    """Loss times c (so gradients times c), or one coordinate's gradient times its own s_i
    (a rescaled parameter): the same observation at every step, to the bit for powers of two
    (float arithmetic scales exactly by them) and to rounding for other factors."""
    layout = Layout(H, groups)
    fs, gs = _trajectory()
    base = _observations(fs, gs, layout)
    per_coordinate = torch.tensor([2.0 ** 5, 2.0 ** -9, 2.0 ** 12, 1.0, 2.0 ** -3, 4.0])
    exact = [(2.0 ** 10, 0.0, 1.0), (2.0 ** -7, 0.0, 1.0)]
    if "gradient" in groups or "momentum" in groups:
        exact.append((1.0, 0.0, per_coordinate))
    for c, shift, s in exact:
        for a, b in zip(base, _observations(fs * c + shift, gs * c * s, layout)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    for c, shift in ((3.7, 0.0), (0.013, 0.5)):  # a shifted objective changes by the same amounts
        for a, b in zip(base, _observations(fs * c + shift, gs * c, layout)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    last = base[-1]
    for group in GROUPS:  # the invariance is not that of zeros: each selected group is there
        assert (_region(last, group).abs().amax() > 0.1) == (group in groups), group
    assert last.abs().max() <= 1.0 and last.dtype == torch.float32


def test_momentum_rows_are_adams_normalised_momenta_squashed() -> None:
    """Row k is tanh(m̂ / sqrt(v̂)) with m at MOMENTUM_BETAS[k], v at 0.999, as ``torch.optim.Adam`` keeps them."""
    fs, gs = _trajectory(steps=40)
    gs = gs.double()
    layout = Layout(H)
    history = empty_history(layout, gs.shape[-1], dtype=torch.float64)
    params = [torch.zeros(gs.shape[-1], dtype=torch.float64, requires_grad=True) for _ in MOMENTUM_BETAS]
    adams = [torch.optim.Adam([p], lr=0.0, betas=(beta, SECOND_MOMENT_BETA)) for p, beta in zip(params, MOMENTUM_BETAS)]
    for t in range(len(fs)):
        history = record(history, fs[t], gs[t])
        for p, adam in zip(params, adams):
            p.grad = gs[t].clone()
            adam.step()
        momentum = observation(history, t + 1, layout)[H:, 1:].double()
        for k, (p, beta) in enumerate(zip(params, MOMENTUM_BETAS)):
            state = adams[k].state[p]
            m_hat = state["exp_avg"] / (1 - beta ** (t + 1))
            v_hat = state["exp_avg_sq"] / (1 - SECOND_MOMENT_BETA ** (t + 1))
            expected = torch.where(v_hat > 0, torch.tanh(m_hat / v_hat.sqrt().clamp(min=1e-300)), 0.0)
            torch.testing.assert_close(momentum[k], expected, rtol=1e-5, atol=1e-6)
    assert torch.all(momentum[:, -1] == 0), "a coordinate whose gradient was always 0 has momentum 0, not 0/0"


def test_no_input_depends_on_the_step_count() -> None:
    """A steady descent (constant gradient, objective falling linearly) looks the same at step
    H and at step 500: nothing in the observation counts steps or knows a horizon."""
    layout = Layout(H)
    g = torch.tensor([3.0, -0.5, 1e-4])
    steps = 500
    obs = _observations(100.0 - torch.arange(steps, dtype=torch.float32), g.expand(steps, 3), layout)
    torch.testing.assert_close(obs[H - 1], obs[-1], rtol=0, atol=1e-5)  # float32 rounding of the averages
    torch.testing.assert_close(obs[-1][H:, 1:], torch.tanh(torch.sign(g)).expand(K, 3), rtol=0, atol=1e-5)


@pytest.mark.parametrize("groups", SUBSETS, ids=lambda g: "+".join(g))
def test_an_ablated_group_is_zero_and_has_no_effect_on_the_action(groups: tuple[str, ...]) -> None:
    layout = Layout(H, groups)
    fs, gs = _trajectory()
    obs = _observations(fs, gs, layout)[-1]
    for group in set(GROUPS) - set(groups):
        assert torch.all(_region(obs, group) == 0), group
    assert torch.all(obs[H:, 0] == 0), "the objective column has no momentum rows"
    torch.manual_seed(0)
    policy = CoordinatewisePolicy(H, (16,), inputs=groups)
    nn.init.normal_(policy.net[-1].weight)
    assert policy.net[0].in_features == layout.width == H * ("gradient" in groups) + K * ("momentum" in groups) \
        + H * ("objective" in groups)
    # Whatever an ablated group's entries hold, the action is the same; a selected group's matter.
    for group in GROUPS:
        noisy = obs.clone()
        _region(noisy, group).copy_(torch.rand_like(_region(noisy, group)) * 2 - 1)
        same = torch.equal(policy.act(noisy), policy.act(obs))
        assert same == (group not in groups), group


def _write_v1_policy(stem: Path, net: nn.Sequential, history: int) -> Path:
    """A policy file exactly as ``save_policy`` wrote it before input groups existed."""
    import hashlib

    from safetensors.torch import save_file

    tensors = {f"net.{k}": v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    weights = stem.with_suffix(".safetensors")
    save_file(tensors, str(weights), metadata={"format": FORMAT})
    meta = {"format": FORMAT, "format_version": 1, "history": history, "hidden": [16, 16], "activation": "tanh",
            "features": "window-maxabs-v1", "action_clip": 10.0, "update_scale": 0.05,
            "tensors": {k: list(v.shape) for k, v in tensors.items()}, "weights_file": weights.name,
            "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(), "training": {"family": "quadratic"}}
    stem.with_suffix(".json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    return weights


def test_a_v1_policy_file_is_refused_with_one_line(tmp_path: Path) -> None:
    # window-maxabs-v1 was written only by development builds before input groups: no release
    # ever wrote it, so it is refused, named, rather than converted.
    history = 25
    net = nn.Sequential(nn.Linear(2 * history, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
    weights = _write_v1_policy(tmp_path / "old", net, history)
    with pytest.raises(PolicyError) as err:
        load_policy(weights)
    message = str(err.value)
    assert "\n" not in message and str(tmp_path / "old.json") in message
    assert f"features {FEATURES_V1}" in message and f"accepted: {FEATURES}" in message


def test_saved_layout_round_trips_and_bad_layouts_are_refused(tmp_path: Path) -> None:
    torch.manual_seed(0)
    policy = CoordinatewisePolicy(H, (8,), inputs="momentum,gradient")
    weights, meta_path = save_policy(policy, tmp_path / "p", update_scale=0.1)
    loaded = read_policy(weights)
    assert loaded.metadata["features"] == FEATURES and loaded.metadata["inputs"] == ["gradient", "momentum"]
    assert loaded.layout == policy.layout
    obs = torch.rand(3, H + K, 5) * 2 - 1
    policy.requires_grad_(False)  # as loaded: torch's matmul sums in another order for weights needing grad
    torch.testing.assert_close(loaded.network.act(obs), policy.act(obs), rtol=0, atol=0)

    meta = json.loads(Path(meta_path).read_text())

    def refused(match: str, **change: object) -> None:
        edited = {**meta, **change}
        for key in [k for k, v in change.items() if v is None]:
            del edited[key]
        Path(meta_path).write_text(json.dumps(edited))
        with pytest.raises(PolicyError, match=match):
            read_policy(weights)

    refused("features 'window-maxabs-v3' unknown; accepted: window-momentum-v2$", features="window-maxabs-v3")
    refused("format version 0; this raybench reads version 1 only", format_version=0)
    refused("format version None", format_version=None)
    refused("unknown input group 'curvature'", inputs=["gradient", "curvature"])
    refused("inputs None; expected a list", inputs=None)  # a v2 file must say its groups
    refused("tensors do not fit .* inputs objective,gradient,momentum", inputs=list(GROUPS))


def test_parse_inputs_orders_and_names_what_is_accepted() -> None:
    assert parse_inputs("momentum, objective") == ("objective", "momentum")
    assert parse_inputs(["gradient", "gradient"]) == ("gradient",)
    for bad, match in (("objective,loss", "unknown input group 'loss'"), (" , ", "no input group"),
                       (3, "bad input groups 3")):
        with pytest.raises(ValueError, match=match) as err:
            parse_inputs(bad)
        assert "accepted: one or more of objective, gradient, momentum" in str(err.value)


def test_train_settings_carry_inputs_to_env_and_network(tmp_path: Path) -> None:
    """``--inputs`` reaches the env config, the RLModule's model_config (whose layers fit the
    env's observations) and the settings file, and cannot change on --resume."""
    from raybench.rl.module import CoordinatewisePolicyModule
    from raybench.rl.train import ppo_config

    s = TrainSettings(out=str(tmp_path), inputs=("gradient", "momentum"), history=H)
    s.check()
    env = s.env_class()(s.env_config())
    spec = ppo_config(s).rl_module_spec
    assert spec.model_config["inputs"] == ["gradient", "momentum"]
    module = CoordinatewisePolicyModule(observation_space=env.observation_space, action_space=env.action_space,
                                        model_config=spec.model_config)
    assert module.policy.layout == env.layout == Layout(H, ("gradient", "momentum"))
    assert module.value_embed[0].in_features == module.policy.net[0].in_features == H + K
    save_settings(s)
    assert load_settings(str(tmp_path)).inputs == ("gradient", "momentum")
    with pytest.raises(UsageError, match="--inputs .* cannot change"):
        resumed(str(tmp_path), {"inputs": GROUPS})
    with pytest.raises(UsageError, match="bad --inputs"):
        TrainSettings(inputs=("objective", "hessian")).check()


def test_bad_inputs_is_exit_2_before_ray_starts(tmp_path: Path) -> None:
    out = tmp_path / "never"
    proc = raybench("rl", "train", "--inputs", "objective,hessian", "--out", str(out))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "bad --inputs 'objective,hessian': unknown input group 'hessian'; accepted: one or more of " \
           "objective, gradient, momentum" in proc.stderr
    assert "Traceback" not in proc.stderr and "Ray" not in proc.stderr and not out.exists()
