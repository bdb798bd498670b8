"""Early stopping (``Run(..., patience=p)``) judged by what runs do, not by budget arithmetic.

A run stops once ``p`` evaluations in a row have not lowered the best validation loss so far
(the evaluation at step 0 sets the first best). Each case below is built so that the course of
the validation loss is known: SGD with ``lr=0`` never moves (the loss never improves), SGD with
a step too large for every eigenvalue of the quadratic makes the loss rise at every step, SGD
with a stable step on that convex quadratic lowers it at every step, and a noisy run is held
against the same run without patience.
"""

from __future__ import annotations

import pytest

from raybench.train import Run


def _steps(rows: list[dict]) -> list[int]:
    return [row["step"] for row in rows]


@pytest.mark.parametrize("patience", [1, 3])
def test_a_run_that_never_improves_stops_after_patience_evaluations(patience: int) -> None:
    run = Run("quadratic", "sgd", {"lr": 0.0}, seed=0, steps=200, eval_every=5, patience=patience)
    rows = run.advance()
    # lr = 0: the parameters never move, so no evaluation beats the one at step 0.
    assert len({row["val_loss"] for row in rows}) == 1
    assert _steps(rows) == [5 * k for k in range(patience + 1)]
    assert run.stopped_early and run.done and run.status == "ok"
    assert run.step == 5 * patience < run.steps
    assert run.summary(test=False)["stopped_early"] is True
    assert run.advance() == [] and run.step == 5 * patience  # a stopped run stays stopped


def test_a_run_whose_loss_rises_stops_after_patience_evaluations() -> None:
    # On the quadratic (eigenvalues in [1, 30]) gradient descent multiplies the error along
    # each eigenvector by (1 - lr * lambda); at lr = 5 that is at least 4 in size for every
    # eigenvalue, so f - f* grows at every step: every evaluation is worse than the last.
    run = Run("quadratic", "sgd", {"lr": 5.0}, seed=0, steps=50, eval_every=1, patience=3)
    rows = run.advance()
    losses = [row["val_loss"] for row in rows]
    assert all(later > earlier for earlier, later in zip(losses, losses[1:]))
    assert _steps(rows) == [0, 1, 2, 3]
    assert run.stopped_early and run.status == "ok"  # stopped before the loss could overflow


def test_a_run_that_keeps_improving_runs_its_whole_budget() -> None:
    # Gradient descent with lr < 2 / lambda_max (0.01 < 2/30) lowers a convex quadratic at
    # every step, so even patience 1 never triggers.
    run = Run("quadratic", "sgd", {"lr": 0.01}, seed=0, steps=100, eval_every=5, patience=1)
    rows = run.advance()
    losses = [row["val_loss"] for row in rows]
    assert all(later < earlier for earlier, later in zip(losses, losses[1:]))
    assert _steps(rows) == list(range(0, 101, 5))
    assert not run.stopped_early and run.step == run.steps == 100


def test_without_patience_a_run_that_never_improves_runs_to_the_end() -> None:
    run = Run("quadratic", "sgd", {"lr": 0.0}, seed=0, steps=40, eval_every=5)
    run.advance()
    assert not run.stopped_early and run.step == 40


def _stop_index(losses: list[float], patience: int) -> int | None:
    """Where early stopping must stop on this curve: the first evaluation that completes
    ``patience`` evaluations in a row without a new best (the first one sets the best)."""
    best, since_best = losses[0], 0
    for i, loss in enumerate(losses[1:], start=1):
        if loss < best:
            best, since_best = loss, 0
        else:
            since_best += 1
            if since_best == patience:
                return i
    return None


def test_an_improvement_resets_the_count_and_training_is_unchanged_until_the_stop() -> None:
    # Minibatch SGD at a large step on the moons MLP: the validation loss falls with setbacks,
    # so some streaks without improvement end before reaching the patience, and one does not.
    kwargs = dict(seed=0, steps=400, eval_every=10)
    full = Run("mlp", "sgd", {"lr": 0.5}, **kwargs).advance()
    losses = [row["val_loss"] for row in full]
    patience = 3
    stop = _stop_index(losses, patience)
    assert stop is not None, "the reference curve never stalls: pick a noisier setting"
    # The case is only a test of the reset if a shorter streak came first.
    streaks, since_best, best = [], 0, losses[0]
    for loss in losses[1:stop]:
        if loss < best:
            streaks.append(since_best)
            best, since_best = loss, 0
        else:
            since_best += 1
    assert max(streaks) >= 1, "no setback before the stop: the reset is not exercised"

    run = Run("mlp", "sgd", {"lr": 0.5}, patience=patience, **kwargs)
    rows = run.advance()
    assert run.stopped_early and len(rows) == stop + 1
    # Patience only ends the run: up to the stop, the curve is the run without patience.
    assert [row["val_loss"] for row in rows] == losses[:stop + 1]
    assert _steps(rows) == _steps(full)[:stop + 1]


def test_patience_survives_chunks_and_a_checkpoint() -> None:
    def make() -> Run:
        return Run("quadratic", "sgd", {"lr": 0.0}, seed=0, steps=200, eval_every=5, patience=4)

    whole = make()
    whole.advance()
    first = make()
    first.advance(12)  # two evaluations without improvement so far
    assert not first.stopped_early
    resumed = make()
    resumed.load_state_dict(first.state_dict())
    while not resumed.done:
        resumed.advance(3)
    assert resumed.stopped_early and resumed.step == whole.step == 20
