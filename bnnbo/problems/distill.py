"""``distill``: knowledge distillation on scikit-learn's digits, the offline stand-in for the
study's MNIST problem.

x holds every weight and bias of a small CNN "student" (2,390 values in [-1, 1]); the value
is minus the mean KL divergence KL(teacher || student) of the two class distributions over a
fixed batch of 500 images, so it is maximised (0 would be a perfect copy of the teacher).

The teacher, a 64-64-10 tanh MLP (97.6 % accuracy on the held-out batch), is trained
in-process the first time the problem is evaluated (full-batch Adam, float64, one thread,
seeded: a few seconds) and cached under the user cache dir (``$BNNBO_CACHE_DIR``, else
``$XDG_CACHE_HOME/bnnbo``, else ``~/.cache/bnnbo``); the other 1,297 images train it.

Differences from the study (bnn-bo ``distillation.py``): 8 x 8 digits (1,797 images shipped
with scikit-learn) instead of 32 x 32 MNIST, so the student has 2,390 parameters, not 6,230;
the teacher is an MLP trained here instead of a LeNet-5 loaded from an unshipped
``lenet_mnist.pt`` (a CNN teacher in float64 took ~1 min to train on 2 cores); the batch
is fixed (the study took the first batch of a shuffled loader, a different batch per call);
the KL divergence is computed from log-probabilities as defined (the study passed
probabilities to ``KLDivLoss``) and averaged over images rather than summed; and it is
minimised (the study maximised it by leaving ``negate`` off). CPU only.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from bnnbo import paper
from bnnbo.problems.availability import require
from bnnbo.problems.base import Problem, ProblemInfo, with_info
from bnnbo.space import DTYPE, SearchSpace

#: Bump when anything that changes the trained teacher changes (invalidates caches).
RECIPE = "digits-mlp64-v1"
N_BATCH = 500
TRAIN_STEPS = 200
LEARNING_RATE = 1e-2
#: Student layers: (name, shape); flattened in this order into x.
STUDENT = (
    ("conv1.weight", (16, 1, 3, 3)),
    ("conv1.bias", (16,)),
    ("conv2.weight", (12, 16, 3, 3)),
    ("conv2.bias", (12,)),
    ("fc.weight", (10, 48)),
    ("fc.bias", (10,)),
)
STUDENT_SIZE = sum(torch.Size(shape).numel() for _, shape in STUDENT)


def cache_dir() -> Path:
    root = os.environ.get("BNNBO_CACHE_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bnnbo"


def load_digits_split(seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(train images, train labels, batch images, batch labels)``; images ``n x 1 x 8 x 8`` in [0, 1]."""
    datasets = require("sklearn.datasets", "distill", package="scikit-learn")
    data = datasets.load_digits()
    images = torch.as_tensor(data.images, dtype=DTYPE).unsqueeze(1) / 16.0
    labels = torch.as_tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    train, batch = order[:-N_BATCH], order[-N_BATCH:]
    return images[train], labels[train], images[batch], labels[batch]


def teacher_logits(params: dict[str, Tensor], images: Tensor) -> Tensor:
    """An MLP on the 64 pixels: 64 -> 64 -> 10, tanh."""
    h = torch.tanh(images.flatten(1) @ params["fc1.weight"].T + params["fc1.bias"])
    return h @ params["fc2.weight"].T + params["fc2.bias"]


def student_logits(x: Tensor, images: Tensor) -> Tensor:
    """The study's LeNetSmall shape (conv 16, conv 12, linear) with ReLU and max-pooling."""
    p, start = {}, 0
    for name, shape in STUDENT:
        size = torch.Size(shape).numel()
        p[name] = x[start : start + size].reshape(shape)
        start += size
    h = F.max_pool2d(F.relu(F.conv2d(images, p["conv1.weight"], p["conv1.bias"], padding=1)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, p["conv2.weight"], p["conv2.bias"], padding=1)), 2)
    return h.flatten(1) @ p["fc.weight"].T + p["fc.bias"]


def train_teacher(images: Tensor, labels: Tensor, seed: int) -> dict[str, Tensor]:
    """Full-batch Adam on cross-entropy; one thread so the result is bitwise reproducible."""
    gen = torch.Generator().manual_seed(seed)
    shapes = {"fc1": (64, 64), "fc2": (10, 64)}
    params = {}
    for name, shape in shapes.items():
        fan_in = torch.Size(shape[1:]).numel()
        params[f"{name}.weight"] = torch.randn(shape, generator=gen, dtype=DTYPE) / fan_in**0.5
        params[f"{name}.bias"] = torch.zeros(shape[0], dtype=DTYPE)
    for t in params.values():
        t.requires_grad_(True)
    opt = torch.optim.Adam(params.values(), lr=LEARNING_RATE)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(TRAIN_STEPS):
            opt.zero_grad()
            F.cross_entropy(teacher_logits(params, images), labels).backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return {k: v.detach() for k, v in params.items()}


def load_or_train_teacher(seed: int, images: Tensor, labels: Tensor, folder: Path | None = None) -> dict[str, Tensor]:
    """The cached teacher for ``seed``, training and caching it on first use."""
    path = (folder or cache_dir()) / f"distill-teacher-{RECIPE}-seed{seed}.pt"
    if path.exists():
        try:
            return torch.load(path, weights_only=True)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):
            pass  # a truncated or foreign file: retrain and overwrite it
    params = train_teacher(images, labels, seed)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(params, tmp)
        os.replace(tmp, path)  # atomic: concurrent runs never read a half-written file
    except OSError:
        pass  # an unwritable cache only costs a retrain next time
    return params


class KnowledgeDistillation(Problem):
    """Minimise KL(teacher || student) over the student's 2,390 parameters (values negated)."""

    name = "distill"
    num_objectives = 1
    paper_budget = paper.budget("distill")

    def __init__(self, seed: int = 0, cache: str | None = None):
        require("sklearn.datasets", "distill", package="scikit-learn")
        bounds = torch.stack([-torch.ones(STUDENT_SIZE), torch.ones(STUDENT_SIZE)])
        super().__init__(SearchSpace.box(bounds, prefix="w"))
        self.seed = int(seed)
        self.cache = Path(cache) if cache else None
        self._teacher_logp: Tensor | None = None
        self._batch: Tensor | None = None
        self.teacher_accuracy: float | None = None  # on the distillation batch (held out)

    def _prepare(self) -> None:
        train_x, train_y, batch_x, batch_y = load_digits_split(self.seed)
        params = load_or_train_teacher(self.seed, train_x, train_y, self.cache)
        with torch.no_grad():
            logits = teacher_logits(params, batch_x)
        self._teacher_logp = logits.log_softmax(-1)
        self._batch = batch_x
        self.teacher_accuracy = float((logits.argmax(-1) == batch_y).double().mean())

    def _evaluate(self, X: Tensor) -> Tensor:
        if self._teacher_logp is None:
            self._prepare()
        logp_t, batch = self._teacher_logp, self._batch
        assert logp_t is not None and batch is not None  # set by _prepare
        values = []
        with torch.no_grad():
            for x in X:
                logp_s = student_logits(x, batch).log_softmax(-1)
                kl = (logp_t.exp() * (logp_t - logp_s)).sum(-1).mean()
                values.append(-kl)
        return torch.stack(values)


def distill_info(seed: int = 0, cache: str | None = None) -> ProblemInfo:
    """The problem's metadata: no data set loaded, no teacher trained."""
    require("sklearn.datasets", "distill", package="scikit-learn")
    cls = KnowledgeDistillation
    return ProblemInfo(
        name=cls.name, dim=STUDENT_SIZE, num_objectives=1, negated=cls.negated, paper_budget=cls.paper_budget
    )


@with_info(distill_info)
def distill(seed: int = 0, cache: str | None = None) -> Problem:
    return KnowledgeDistillation(seed=seed, cache=cache)
