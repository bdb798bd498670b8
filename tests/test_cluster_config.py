"""``cluster.yaml`` is a valid Ray cluster-launcher config, and says what the README promises.

Validated offline with Ray's own code path for ``ray up`` (``prepare_config``: merge with the
AWS defaults, then ``validate_config``: Ray's JSON schema plus its cross-field checks); no
cloud calls are made.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CONFIG = Path(__file__).resolve().parents[1] / "cluster.yaml"


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(CONFIG.read_text())


@pytest.fixture(scope="module")
def prepared(raw: dict) -> dict:
    full = prepare_config(copy.deepcopy(raw))
    validate_config(full)
    return full


def test_ray_validator_accepts_it(prepared: dict) -> None:
    assert prepared["provider"]["type"] == "aws"
    assert prepared["head_node_type"] in prepared["available_node_types"]


@pytest.mark.parametrize("break_it", [
    lambda c: c.update(unknown_top_level_key=1),
    lambda c: c["available_node_types"]["worker.gpu"].update(min_workers="zero"),
    lambda c: c.update(head_node_type="no.such.type"),
])
def test_the_validator_rejects_a_broken_copy(raw: dict, break_it) -> None:
    """The check above can fail: the same validator refuses small breakages of this file."""
    broken = copy.deepcopy(raw)
    break_it(broken)
    with pytest.raises((jsonschema.ValidationError, ValueError)):
        validate_config(prepare_config(broken))


def _gpus(instance_type: str) -> bool:
    # AWS GPU families: g4dn/g5/g6..., p3/p4/p5...
    return re.match(r"^(g\d|p\d)", instance_type) is not None


def test_cpu_head_and_gpu_workers_scaling_from_zero(prepared: dict) -> None:
    types = prepared["available_node_types"]
    head = types[prepared["head_node_type"]]
    assert not _gpus(head["node_config"]["InstanceType"])
    workers = [t for name, t in types.items() if name != prepared["head_node_type"]]
    assert workers and all(_gpus(t["node_config"]["InstanceType"]) for t in workers)
    assert all(t["min_workers"] == 0 and t["max_workers"] >= 1 for t in workers)
    assert prepared["docker"]["worker_image"].endswith("-gpu")


def test_setup_installs_raybench_on_every_node(prepared: dict) -> None:
    commands = " ; ".join(prepared["setup_commands"])
    assert "pip install" in commands and "raybench" in commands
    mounts = prepared["file_mounts"]
    assert any(local == "." for local in mounts.values()), "the checkout is copied to the nodes"


def test_nothing_but_ssh_is_reachable_from_outside(raw: dict, prepared: dict) -> None:
    """Ray's AWS provider opens SSH and intra-cluster traffic; this file must add nothing."""
    extra = raw["provider"]["security_group"].get("IpPermissions", [])
    assert all(rule.get("FromPort") == 22 and rule.get("ToPort") == 22 for rule in extra)
    for node_type in prepared["available_node_types"].values():
        cfg = node_type["node_config"]
        # Own security groups or interfaces would bypass the SSH-only group Ray creates.
        assert "SecurityGroupIds" not in cfg and "NetworkInterfaces" not in cfg
    starts = " ".join(prepared["head_start_ray_commands"] + prepared["worker_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in starts and "0.0.0.0" not in starts
    for key in ("run_options", "head_run_options", "worker_run_options"):
        assert not any("-p " in o or "--publish" in o for o in prepared["docker"].get(key, []))


def test_every_node_requires_ray_token_auth(prepared: dict) -> None:
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = [c for c in prepared[key] if "ray start" in c]
        assert start and all("RAY_AUTH_MODE=token" in c for c in start)
    assert "~/.ray/auth_token" in prepared["file_mounts"]
