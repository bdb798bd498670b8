"""The character-level GPT problem (``char_gpt``) and its text loader, on tiny corpora made here.

Every corpus goes through ``text_data.load_corpus``, the code the packaged King James Bible and
a user's own files take. Unit tier: no Ray, a few seconds each.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from raybench import problems
from raybench.problems import char_gpt, text_data
from raybench.runner import execute
from raybench.spec import RunSpec
from tests.conftest import cli

TINY = {"layers": 1, "width": 16, "heads": 2, "context": 16, "batch_size": 4, "eval_windows": 8}


def _write_corpus(folder, n_chars: int = 4000, name: str = "tiny.txt") -> str:
    line = "It was the best of times, it was the worst of times; é and ü are text too.\n"
    path = folder / name
    path.write_text((line * (n_chars // len(line) + 1))[:n_chars], encoding="utf-8")
    return str(path)


@pytest.fixture
def corpus(tmp_path) -> str:
    return _write_corpus(tmp_path)


def _instance(corpus: str, seed: int = 0, **options):
    return problems.get("char_gpt").instance(seed, corpus=corpus, **{**TINY, **options})


def test_a_text_file_loads_into_contiguous_disjoint_blocks(corpus):
    data = text_data.load_corpus(corpus)
    assert data.name == "text:tiny.txt" and len(data.text) == 4000
    bounds = text_data.split_bounds(len(data.text))
    assert list(bounds) == ["train", "val", "test"]
    assert bounds["train"][0] == 0 and bounds["test"][1] == 4000
    assert bounds["train"][1] == bounds["val"][0] and bounds["val"][1] == bounds["test"][0]
    assert [b - a for a, b in bounds.values()] == [3600, 200, 200]

    inst = _instance(corpus)
    assert inst.vocab == text_data.vocabulary(data.text) and inst.vocab_size == len(set(data.text))
    decoded = {k: "".join(inst.vocab[i] for i in v.tolist()) for k, v in inst.tokens.items()}
    assert decoded["train"] + decoded["val"] + decoded["test"] == data.text
    # Training windows lie inside the training block: their targets too.
    x, y = inst.batch(3)
    assert x.shape == y.shape == (4, 16)
    assert torch.equal(x[:, 1:], y[:, :-1])


def test_a_folder_of_text_files_is_one_corpus(tmp_path):
    _write_corpus(tmp_path, 3000, "b.txt")
    _write_corpus(tmp_path, 2000, "a.txt")
    data = text_data.load_corpus(str(tmp_path))
    assert len(data.text) == 2000 + 1 + 3000 and data.name == f"text:{tmp_path.name}"


def test_the_packaged_corpus():
    data = text_data.load_corpus(None)
    assert data.name == text_data.KJV_DATASET
    assert len(data.text) == 4_305_142 and len(text_data.vocabulary(data.text)) == 73
    assert data.text.startswith("1:1 In the beginning God created")


def test_same_seed_same_start_and_batches(corpus):
    a, b, c = _instance(corpus, 5), _instance(corpus, 5), _instance(corpus, 6)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
    torch.manual_seed(123)  # the global generator plays no part
    for step in (0, 1, 17):
        assert all(torch.equal(u, v) for u, v in zip(a.batch(step), b.batch(step)))
    assert not torch.equal(a.batch(0)[0], c.batch(0)[0])
    assert not torch.equal(a.batch(0)[0], a.batch(1)[0])
    assert a.evaluate("val") == b.evaluate("val")


def test_attention_is_causal(corpus):
    model = _instance(corpus).model.eval()
    x = torch.randint(0, model.tok.num_embeddings, (2, 16), generator=torch.Generator().manual_seed(0))
    changed = x.clone()
    changed[:, 10] = (changed[:, 10] + 1) % model.tok.num_embeddings
    with torch.no_grad():
        before, after = model(x), model(changed)
    assert torch.equal(before[:, :10], after[:, :10])
    assert not torch.allclose(before[:, 10:], after[:, 10:])


def test_parameter_roles_and_tied_head(corpus):
    untied = _instance(corpus).model
    roles = untied.parameter_roles()
    assert set(roles) == {name for name, _ in untied.named_parameters()}
    assert roles["tok.weight"] == roles["pos.weight"] == "embedding" and roles["head.weight"] == "head"
    assert roles["blocks.0.attn.qkv.weight"] == "hidden" and roles["blocks.0.attn.qkv.bias"] == "bias"
    assert roles["blocks.0.ln1.weight"] == roles["ln_f.bias"] == "norm"
    tied = _instance(corpus, tied=True).model
    assert tied.head.weight is tied.tok.weight and "head.weight" not in tied.parameter_roles()


def test_clip_bounds_the_gradient_norm(corpus):
    inst = _instance(corpus, clip=1e-3)
    inst.closure(inst.batch(0))()
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in inst.parameters()]))
    assert norm <= 1e-3 * (1 + 1e-4)
    free = _instance(corpus, clip=None)
    free.closure(free.batch(0))()
    assert torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in free.parameters()])) > 1e-2


def test_a_few_steps_of_the_real_training_loop(corpus):
    spec = RunSpec.build("char_gpt", "adam", 0, options={"corpus": corpus, **TINY}, steps=5)
    row, curves = execute(spec, "cpu")
    assert row["status"] == "ok", row["error"]
    assert row["dataset"] == "text:tiny.txt" and row["target_metric"] == "bits_per_char"
    for metrics in (row["final_val_extra"], row["test_extra"]):
        bpc = float(json.loads(metrics)["bits_per_char"])
        assert math.isfinite(bpc) and 0 < bpc < 2 * math.log2(64)
    assert row["final_val_loss"] == pytest.approx(
        json.loads(row["final_val_extra"])["bits_per_char"] * math.log(2))
    assert [c["step"] for c in curves] == [0, 5]


def test_sizes_are_declared():
    assert list(char_gpt.SIZES) == ["cpu", "gpu", "gpt2_small"]
    assert problems.get("char_gpt").defaults["size"] == "cpu"
    shape = char_gpt.resolve_shape("gpt2_small")
    assert (shape.layers, shape.width, shape.heads, shape.context) == (12, 768, 12, 1024)


def _check(tmp_path, *options: str):
    args = ["run", "--problems", "char_gpt", "--optimizers", "adam", "--out", str(tmp_path / "out"), "--check"]
    for option in options:
        args += ["--option", option]
    return cli(*args)


def test_bad_input_is_one_line_and_exit_2_before_any_run(tmp_path, corpus):
    binary = tmp_path / "image.bin"
    binary.write_bytes(bytes([0x89, 0x50, 0x4E, 0x47, 0xFF, 0xFE, 0x00, 0x01]))
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"abc\x00def" * 100)
    short = _write_corpus(tmp_path, 500, "short.txt")  # blocks of 450 / 25 / 25 characters
    cases = [
        (["corpus=/nonexistent/corpus.txt"], "does not exist"),
        ([f"corpus={binary}"], "not UTF-8 text"),
        ([f"corpus={nul}"], "not text"),
        ([f"corpus={short}"], "too short for context 64"),
        (["size=huge"], "accepted: cpu, gpu, gpt2_small"),
        ([f"corpus={corpus}", "width=30", "heads=4"], "not a multiple"),
    ]
    for options, message in cases:
        proc = _check(tmp_path, *options)
        assert proc.returncode == 2, (options, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (options, proc.stderr)
    assert not (tmp_path / "out" / "runs").exists()
    # A corpus this short is fine with a context that fits each block.
    assert _check(tmp_path, f"corpus={short}", "context=16").returncode == 0
