"""Parameter roles (``raybench.optimizers.roles``): declared by models, read by ``MuonAdamW`` and
by weight decay; the shape rule without them; Muon and SOAP not applicable where nothing is
theirs. Unit tier: no Ray, a second or two each.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from raybench import optimizers, problems, schedules
from raybench.optimizers import roles
from raybench.problems.char_gpt import GPT
from raybench.problems.mlp import TwoLayerNet
from raybench.problems.vision import Cifar100CNN, MnistAutoencoder, MnistCNN, MnistMLP
from raybench.problems.workloads_images import Mnist1dCNN, Mnist1dMLP
from raybench.runner import execute
from raybench.spec import RunSpec
from raybench.train import Run


def _gpt(seed: int = 0, *, tied: bool = False) -> GPT:
    return GPT(11, layers=1, width=16, heads=2, context=8, tied=tied, g=problems.generator(seed, 1))


def _gpt_loss(model: GPT) -> torch.Tensor:
    idx = torch.arange(16).remainder(11).reshape(2, 8)
    logits = model(idx)
    return nn.functional.cross_entropy(logits.reshape(-1, 11), idx.roll(-1, dims=1).reshape(-1))


def _build(name: str, model: nn.Module, **hparams) -> torch.optim.Optimizer:
    return optimizers.build(name, model.parameters(), optimizers.resolve_hparams(name, hparams),
                            param_roles=roles.of(model))


def _held(groups: list[dict]) -> set[int]:
    return {id(p) for g in groups for p in g["params"]}


def test_muon_with_roles_leaves_head_and_embeddings_to_adamw() -> None:
    model = _gpt()
    declared = roles.of(model)
    assert declared.source == roles.DECLARED
    opt = _build("muon", model, lr=0.02)
    by_name = dict(model.named_parameters())
    hidden = {n for n, p in by_name.items() if declared.role(p) == "hidden"}
    assert hidden == {"blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight", "blocks.0.fc.weight",
                      "blocks.0.proj.weight"}
    assert _held(opt.muon.param_groups) == {id(by_name[n]) for n in hidden}
    for name in ("head.weight", "tok.weight", "pos.weight", "ln_f.weight", "blocks.0.fc.bias"):
        assert id(by_name[name]) in _held(opt.adamw.param_groups), name
    assert {g["role"] for g in opt.adamw.param_groups} == {"embedding", "head", "norm", "bias"}
    # It trains: one Muon and one AdamW step over the whole model.
    before = {n: p.detach().clone() for n, p in by_name.items()}

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = _gpt_loss(model)
        loss.backward()
        return loss
    opt.step(closure)
    assert all(not torch.equal(before[n], p) for n, p in by_name.items() if n != "blocks.0.fc.bias")


def test_without_roles_the_shape_rule_gives_every_matrix_to_muon_and_says_so(monkeypatch) -> None:
    model = nn.Sequential(nn.Embedding(7, 4), nn.Linear(4, 4), nn.Linear(4, 3))
    inferred = roles.of(model)
    assert inferred.source == roles.SHAPE_RULE == "shape rule"
    opt = _build("muon", model)
    assert _held(opt.muon.param_groups) == {id(model[0].weight), id(model[1].weight), id(model[2].weight)}
    assert {g["weight_decay"] for g in opt.adamw.param_groups} == {0.01}  # nothing exempt by shape

    # A run records which it had: declared roles, or the shape rule where the model has none.
    assert Run("mlp", "muon", {}, 0, steps=2).summary()["param_roles"] == "declared"
    monkeypatch.delattr(TwoLayerNet, "parameter_roles")
    run = Run("mlp", "muon", {}, 0, steps=2)
    run.advance()
    row = run.summary()
    assert row["param_roles"] == "shape rule" and row["status"] == "ok"
    assert _held(run.optimizer.muon.param_groups) == {id(run.instance.model.hidden.weight),
                                                      id(run.instance.model.out.weight)}


def test_no_weight_decay_on_norms_biases_and_embeddings() -> None:
    model = _gpt()
    declared = roles.of(model)
    no_decay = {id(p) for p in model.parameters() if declared.role(p) in ("norm", "bias", "embedding")}
    for name in ("adamw", "lion", "muon"):
        opt = _build(name, model, weight_decay=0.1)
        for group in opt.param_groups:
            exempt = {id(p) for p in group["params"]} <= no_decay
            assert (group["weight_decay"] == 0.0) == exempt, (name, group.get("role"))
        assert _held(opt.param_groups) == {id(p) for p in model.parameters()}
    # Where it changes nothing the optimizer gets its plain list: one group (L-BFGS takes no other).
    assert len(_build("adam", model).param_groups) == 1  # Adam's weight_decay is 0
    assert len(_build("lbfgs", model).param_groups) == 1


def test_adamw_lr_is_tied_to_muon_lr_by_the_ratio_through_a_schedule() -> None:
    model = _gpt()
    opt = _build("muon", model, lr=0.02, adamw_lr_ratio=0.25)
    assert {g["lr"] for g in opt.muon.param_groups} == {0.02}
    assert {g["lr"] for g in opt.adamw.param_groups} == {0.005}
    # A schedule scales every group's lr (they are the parts' own dicts): the ratio stays.
    hparams = optimizers.resolve_hparams("muon", {"lr": 0.02, "adamw_lr_ratio": 0.25, "schedule": "warmup_cosine"})
    opt = optimizers.build("muon", model.parameters(), hparams, param_roles=roles.of(model))
    scheduler = schedules.build(opt, hparams, 20)
    for _ in range(7):
        opt.step()
        scheduler.step()
        muon_lr, adamw_lr = opt.muon.param_groups[0]["lr"], opt.adamw.param_groups[0]["lr"]
        assert 0 < muon_lr < 0.02 and adamw_lr == pytest.approx(0.25 * muon_lr)
    # Given explicitly, adamw_lr is AdamW's learning rate whatever lr is.
    opt = _build("muon", model, lr=0.02, adamw_lr=3e-4)
    assert {g["lr"] for g in opt.adamw.param_groups} == {3e-4}
    assert optimizers.get("muon").defaults["adamw_lr"] is None
    with pytest.raises(optimizers.OptimizerError, match="Invalid adamw_lr_ratio value: 0.0"):
        optimizers.resolve_hparams("muon", {"adamw_lr_ratio": 0})


@pytest.mark.parametrize(("name", "problem"), [("muon", "quadratic"), ("muon", "logistic"), ("soap", "rosenbrock")])
def test_muon_and_soap_are_not_applicable_where_nothing_is_theirs(name: str, problem: str) -> None:
    row, curves = execute(RunSpec.build(problem, name, 0, steps=5))
    assert row["status"] == "not_applicable" and curves == [] and row["steps"] == 0
    assert row["error"].startswith(f"{name} is not applicable to problem {problem}: the model has no ")
    assert "\n" not in row["error"]
    assert not row["converged"] and math.isnan(row["steps_to_target"]) and math.isnan(row["test_loss"])


def test_applicability_follows_roles_and_options() -> None:
    hp = optimizers.resolve_hparams("soap", {})
    vectors = roles.of(problems.get("quadratic").instance(0).model)
    assert optimizers.not_applicable("soap", vectors, hp) is not None
    assert optimizers.not_applicable("soap", vectors, {**hp, "precondition_1d": True}) is None
    assert optimizers.not_applicable("adam", vectors, optimizers.resolve_hparams("adam", {})) is None
    # A CNN's hidden weights are kernels, which torch's Muon does not take; its only matrix is the head.
    cnn = roles.of(MnistCNN())
    assert "no hidden matrix (by its declared roles)" in optimizers.not_applicable("muon", cnn, {})
    assert optimizers.not_applicable("muon", roles.of(MnistMLP()), {}) is None


def test_muon_with_roles_state_dict_round_trip_continues_identically() -> None:
    def steps(model: GPT, opt: torch.optim.Optimizer, n: int) -> None:
        for _ in range(n):
            def closure() -> torch.Tensor:
                opt.zero_grad()
                loss = _gpt_loss(model)
                loss.backward()
                return loss
            opt.step(closure)

    model = _gpt(0)
    opt = _build("muon", model, lr=0.02)
    steps(model, opt, 3)
    saved_model, saved_opt = copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())
    steps(model, opt, 3)

    model2 = _gpt(5)
    model2.load_state_dict(saved_model)
    opt2 = _build("muon", model2, lr=0.02)
    opt2.load_state_dict(saved_opt)
    # Its groups are still the parts' own dicts (a scheduler reaches both), in the same order.
    assert sorted(map(id, opt2.param_groups)) == sorted(map(id, [*opt2.muon.param_groups, *opt2.adamw.param_groups]))
    assert [g["role"] for g in opt2.param_groups] == [g["role"] for g in opt.param_groups]
    steps(model2, opt2, 3)
    for (name, a), b in zip(model.named_parameters(), model2.parameters(), strict=True):
        assert torch.equal(a, b), name


MODELS = {
    "TwoLayerNet": lambda: TwoLayerNet(4, "tanh", torch.Generator()),
    "MnistMLP": MnistMLP, "MnistCNN": MnistCNN, "MnistAutoencoder": MnistAutoencoder,
    "Cifar100CNN": lambda: Cifar100CNN(4), "Mnist1dMLP": Mnist1dMLP, "Mnist1dCNN": Mnist1dCNN,
    "GPT": _gpt, "GPT tied": lambda: _gpt(tied=True),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_of_the_suite_declares_a_role_for_each_parameter(name: str) -> None:
    model = MODELS[name]()
    declared = roles.of(model)
    assert declared.source == roles.DECLARED
    assert [n for n, _, _ in declared.named] == [n for n, _ in model.named_parameters()]
    heads = [n for n, _, r in declared.named if r == "head"]
    assert len(heads) == (0 if name == "GPT tied" else 1)  # tied: the head is the token embedding


@pytest.mark.parametrize("name", [n for n in problems.names() if not problems.get(n).needs_data])
def test_every_synthetic_problem_declares_its_roles(name: str) -> None:
    inst = problems.get(name).instance(0)
    assert roles.of(inst.model, inst.parameters()).source == roles.DECLARED


class _Declares(nn.Module):
    def __init__(self, declared: dict) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.declared = declared

    def parameter_roles(self) -> dict:
        return self.declared


@pytest.mark.parametrize(("declared", "words"), [
    ({"lin.weight": "hiden", "lin.bias": "bias"}, ["'hiden'", "accepted: embedding, head, hidden, norm, bias, other"]),
    ({"lin.weight": "hidden"}, ["no role for 'lin.bias'"]),
    ({"lin.weight": "hidden", "lin.bias": "bias", "lin.scale": "norm"}, ["'lin.scale'", "its parameters: lin.weight"]),
])
def test_a_wrong_declaration_is_one_line_naming_it(declared: dict, words: list[str]) -> None:
    with pytest.raises(roles.RolesError) as info:
        roles.of(_Declares(declared))
    assert "\n" not in str(info.value) and "_Declares" in str(info.value)
    for word in words:
        assert word in str(info.value)
