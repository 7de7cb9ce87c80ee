"""Training settings: everything PAPER.md names, the presets and the ablation switches of Table 5.

Choices the paper leaves open, made here:
- ``inner_lr`` (ηF', ηR' of the inner update) is not given in the paper. We use plain SGD with
  ηF' = ηR' = 1e-2 (see :mod:`refusion_core.training.meta`): the outer update is an Adam step, which is
  invariant to the scale of P's gradient, so η mainly sets how far F' moves from F; 1e-2 moves F by
  about 0.1 % of its weights per inner step, small enough for the one-step look-ahead to stay local
  and large enough for P's gradient to stand well above Adam's epsilon.
- ``meta_steps`` (M) counts iterations, each on one batch. Each epoch the training pairs are split at
  random into two disjoint halves; meta-train batches are crops from the first, meta-test batches from
  the second (so the two subsets are disjoint, as Algorithm 1 asks, even when M batches need more crops
  than there are pairs).
- ``meta_batch``: crops in each meta-train and each meta-test batch; the paper uses its batch of 4 for both
  phases, so the default (None) is ``batch``. A larger meta batch averages P's second-order gradient over
  more content (its per-pixel signal is small and noisy at 4 crops of 96²), at a meta step's cost times
  ``meta_batch / batch``.
- ``fuse_steps`` (N) counts iterations of the fusion-and-reconstruction update, on batches from all pairs.
- The paper gives Adam at a fixed 1e-4 and no schedule, so ``lr_schedule="constant"`` is the default.
  ``"cosine"`` (our choice for short refinement runs that start from trained weights) multiplies the three
  Adam learning rates by a linear warm-up over ``warmup_steps`` (fresh Adam moments after ``--init``)
  and then by 0.5·(1 + cos(π·t)), t going from 0 to 1 over the rest of the run, so the run ends at
  learning rate 0 instead of wherever a constant-rate random walk happens to be. The inner step ηF' is
  not scheduled: it is part of the meta-objective, not of an optimiser. The factor is a function of the
  step counter alone, so a resumed run follows the same curve; extending a finished cosine run
  (more epochs) stretches its curve, so extend constant-rate runs only.

- ``adam_eps_p``: Adam's ε for P, 1e-12 instead of torch's 1e-8 (the paper gives none). P's meta-gradient is
  a second-order term scaled by η and averaged over pixels: 1e-9 to 1e-7 per entry at η = 1e-2 (measured with
  scripts/diagnose_meta.py), at or below 1e-8, so the default ε damped P's deeper layers instead of letting
  Adam normalise their steps. F's and R's first-order gradients are far above ε and keep the default.

- ``fixed_w``: w held at ½ at every pixel (P's w logits zeroed around every step,
  :meth:`~refusion_core.models.loss_proposal.LossProposalNet.hold_w_half`); only v is learnt by the meta step.
  Not in the paper's Algorithm 1 (which learns both; ablation I fixes both): the paper's multi-focus figure shows
  w ≈ 0.5 everywhere with v favouring the sharper source, and on our CPU budget the meta step moved w toward the
  blurred source (Γ_w on sharpness −1.3, issue 13), so that the intensity term pulled F toward the blurred
  source that v pulled it away from. With w = ½ the intensity target is the average, which keeps both sources'
  low frequencies (the same in a focus pair), and the gradient term alone says which source's detail to keep.
  The paper's exposure figure is the same (w near-equal, v from the well-exposed source). Off by default; the
  shipped multi-focus and multi-exposure models were trained with it (scripts/campaign.py, candidate
  ``fixed-w-p-frozen``; docs/BENCHMARKS.md, "w held at ½"); medical fusion lost with it (its w must follow content).

- ``tie_w``: w made to follow v (P's w logits set to ``tie_w`` times its v logits around every step,
  :meth:`~refusion_core.models.loss_proposal.LossProposalNet.tie_w_to_v`): at 1, wa = va and wb = vb at every pixel;
  0 (the default) leaves w to P. Not in the paper, whose multi-focus figure shows w ≈ ½; our choice for multi-focus
  fine-tunes that want every region from its sharp source. With w = ½ the intensity term asks for the average of the
  sharp and the blurred source, and the fusion loss's own optimum stays below the Laplacian pyramid on SF, VIF, Q_CB
  and Q_NCIE; with w = v it passes the pyramid on SF, Q_CB and Q_NCIE, and F trained so kept every quarter of the
  4-frame focus stack above 0.92 of the sharp frame's gradient energy where the w = ½ default keeps 0.90
  (docs/BENCHMARKS.md, "w following v"). Exclusive with ``fixed_w``.

- ``gradient_scale``: the scale of ∇ in the losses, relative to kornia's normalised Sobel magnitude (kernels
  divided by 8), which P's inputs and the metrics' helpers use. The paper says only "the Sobel gradient magnitude";
  the field's codebases use the plain kernel [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], that is a scale of 8, so that
  Lf_grad and Lr_grad are 64 times larger than with the normalised kernel at the same α. The scale decides what F
  can learn: on a synthetic multi-focus pair (the camera image, one half blurred in each source, the shipped
  model's maps, w = ½), the image that minimises Lf itself keeps only 0.51 / 0.48 of the sharp source's gradient
  energy per half at scale 1, 0.74 / 0.81 at scale 8, and 0.94 / 0.96 at scale 8 with v twice as decisive
  (docs/BENCHMARKS.md, "The gradient term's scale"). The default is 8 since 2026-12-05; before, the losses used
  the normalised kernel, so settings stored without the field (runs, campaign plans) read as 1 and resume on the
  loss they were trained with (:meth:`TrainSettings.from_dict`).

- ``darken``: the probability that a training crop pair is darkened, both sources by one factor drawn
  log-uniformly from [0.05, 1] (:class:`~refusion_core.training.data.CropSampler`). Not in the paper, which says
  nothing of augmentation. The infrared–visible training split (RoadScene) has no dark regions (not one pixel of
  its 171 train pairs has both sources below 0.1; not one of 1,710 random 96² crops has the sources' maximum
  below 0.2 on average), so F never learnt what to do with them: the
  shipped model of 2026-12-05 turned a black pair into 0.32 grey and a RoadScene pair scaled by 0.1 into a fused
  mean of 0.47 where the sources' maximum was 0.07, brighter than at full brightness, while the authors' checkpoint
  (trained on night scenes too) scales with its input (docs/BENCHMARKS.md, "Dark inputs"). Darkening whole crops
  keeps the sources' relation and teaches F that a pair scaled by k fuses to about k times the fused pair. 0 by
  default (the paper's data as it is).
- ``crush``: the probability that a darkened crop pair also loses a black level (up to a quarter of its white,
  the same for both sources; values below it become exactly 0). With ``darken`` alone the infrared–visible model
  kept darkened pairs dark (hold-out dark lift 1.6 levels of 255, was 97.9) but still fused large regions that
  are black in both sources to grey (a black pair to 0.23): exact zeros, which night images have, never occurred
  in training. 0 by default.
- ``swap``: the probability that a training crop pair is given to the modules in the order (B, A). Not in the
  paper. For tasks whose two sources play the same role (multi-focus, multi-exposure), where the order carries no
  meaning but a data set's pairs come in one (MFIFB: A focused near): P is swap-equivariant (refusion-p-2 and
  later), so its targets swap with the sources, but F is not, and learns a lean toward one input. The multi-focus
  default of 2026-12-05 (sixth session) keeps 0.98 / 0.91 of the sharp source's gradient energy on the two halves
  of a synthetic pair, 0.955 / 0.941 with the sources swapped. 0 by default (the paper's order).
- ``stretch``: the probability that a training crop pair's contrast is stretched to the full range [0, 1], one map
  for both sources, clipping up to a tenth of the pair's pixels at each end (:class:`~refusion_core.training.data.
  CropSampler`). Not in the paper. F ends in a sigmoid, and a sigmoid reaches 0 and 1 only for large logits, which
  F learns only where its training pairs are black or white: the multi-focus training split (MFIFB) has 2 % of its
  pixels below 0.02 and 1.3 % above 0.98 (a median image spans 0.05–0.94 between its 0.5 % and 99.5 % quantiles),
  and the default of 2026-12-05 compresses full-range content: on the 4-frame focus stack's quarter with a black
  helmet and its white highlights (45 % of the quarter below 0.02) it keeps 0.98 of the gradient energy when both
  inputs are the sharp image and 0.92 when only B is, but 1.02 and 0.99 when the same image is mapped to
  [0.1, 0.9] first (docs/BENCHMARKS.md, "The fourth quarter is black and white"). With half the crops stretched
  the multi-focus model kept black black (0.003 for a black of 0.002; before 0.007), but it lost VIF and SD on the
  hold-out and the stack's quarter did not rise on average; no default is trained with it. 0 by default.
- ``same``: the probability that a training crop pair is replaced by one of its sources twice, (A, A) or (B, B).
  Not in the paper. Where both inputs agree the fusion is that image, and P's maps (swap-equivariant) are ½, so the
  loss asks F for the input itself. The multi-focus default of 2026-12-06 does not return it: fusing a hold-out
  image with itself keeps it within about a level of 255 (mean), yet Q_CB of F(I, I) against I is only 0.83-0.92,
  and much of a multi-focus pair is in focus in both sources. With a quarter or half of the crops made so, F's loss
  on such pairs fell (12.96 -> 7.00 x 1e-4 on one) but the hold-out traded as before, 2 or 3 of 6 against the
  default (docs/BENCHMARKS.md, "Twelfth session"); no default is trained with it. 0 by default.

Ablations (Table 5): ``"I"`` fixed w = v = 1/2 (P unused); ``"II"`` no meta-learning: P is trained jointly
and directly by Adam on Lf in the N phase (no M phase); ``"III"`` no fusion-and-reconstruction update:
the N phase is skipped and the inner updates are kept (F ← F', R ← R') so F still learns; ``"IV"`` sum
instead of max in Lr; ``"V"`` decision map If = wa·Ia + wb·Ib (F unused, P trained by Lr through R).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

ABLATIONS = {
    None: "full method",
    "I": "fixed w = v = 1/2",
    "II": "no meta-learning (P trained directly on Lf)",
    "III": "no fusion-and-reconstruction update",
    "IV": "sum instead of max in Lr",
    "V": "decision map If = wa·Ia + wb·Ib",
}


LEGACY_GRADIENT_SCALE = 1.0
"""``gradient_scale`` of settings stored before the field existed: their losses used the normalised Sobel."""

MAX_CROP = 1024
"""The largest training crop: 64 times the paper's 128² pixels; larger ones exhaust memory before they help."""


@dataclass
class TrainSettings:
    """Algorithm 1's settings. Defaults are the paper's values."""

    epochs: int = 50  # L
    meta_steps: int = 600  # M
    fuse_steps: int = 1600  # N
    crop: int = 128
    batch: int = 4
    meta_batch: int | None = None  # crops per meta-train / meta-test batch; None: the same as batch
    lr_f: float = 1e-4
    lr_r: float = 1e-4
    lr_p: float = 1e-4
    alpha1: float = 1.0
    alpha2: float = 1.0
    inner_lr: float = 1e-2
    adam_eps_p: float = 1e-12  # Adam's ε for P (see the module docstring)
    first_order: bool = False  # diagnostic only: P then gets no gradient at all
    meta_gradient: str = "hvp"  # "hvp" (one Hessian-vector product, faster) or "reference"; same value
    ablation: str | None = None
    fixed_w: bool = False  # w = ½ everywhere, only v learnt (see the module docstring)
    tie_w: float = 0.0  # > 0: w = softmax(tie_w · P's v logits), w following v (see the module docstring)
    darken: float = 0.0  # probability of darkening a crop pair by a common factor (see the module docstring)
    crush: float = 0.0  # probability that a darkened crop pair also loses a black level (the module docstring)
    swap: float = 0.0  # probability that a crop pair is given in the order (B, A) (the module docstring)
    stretch: float = 0.0  # probability that a crop pair is stretched to the full range (the module docstring)
    same: float = 0.0  # probability that a crop pair is one of its sources twice (the module docstring)
    gradient_scale: float = 8.0  # ∇ in the losses = this × kornia's normalised Sobel: the plain kernel (docstring)
    seed: int = 0
    checkpoint_every: int = 200  # K: steps between run checkpoints
    preview_every: int = 20  # steps between preview maps
    preview_size: int = 256  # longer side of the preview crop
    max_side: int | None = 1024  # training images larger than this are downscaled (None: never)
    lr_schedule: str = "constant"  # "constant" (the paper) or "cosine" (warm-up, then cosine decay to 0)
    warmup_steps: int = 0  # linear warm-up of the Adam learning rates (cosine schedule only)
    preset_name: str | None = None  # the preset these settings came from, for the record

    def __post_init__(self) -> None:
        if self.ablation not in ABLATIONS:
            raise ValueError(f"unknown ablation {self.ablation!r}; choose one of I, II, III, IV, V")
        for name in ("epochs", "crop", "batch", "checkpoint_every", "preview_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.crop > MAX_CROP:
            raise ValueError(f"crop must be at most {MAX_CROP} (the paper trains on 128; memory grows with its square)")
        if self.meta_batch is not None and self.meta_batch < 1:
            raise ValueError("meta_batch must be at least 1")
        if self.meta_gradient not in ("hvp", "reference"):
            raise ValueError("meta_gradient must be 'hvp' or 'reference'")
        if self.meta_steps < 0 or self.fuse_steps < 0:
            raise ValueError("meta_steps and fuse_steps must not be negative")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError("lr_schedule must be 'constant' or 'cosine'")
        if self.warmup_steps < 0:
            raise ValueError("warmup_steps must not be negative")
        for name in ("darken", "crush", "swap", "stretch", "same"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability, between 0 and 1")
        if self.tie_w < 0:
            raise ValueError("tie_w must not be negative (0: w learnt by P; 1: w equal to v)")
        if self.tie_w and self.fixed_w:
            raise ValueError("w is either held at ½ (fixed_w) or made to follow v (tie_w), not both")
        if not self.gradient_scale > 0:
            raise ValueError("gradient_scale must be positive (8: the plain Sobel kernel, 1: kornia's normalised one)")

    def lr_factor(self, step: int) -> float:
        """The factor on lr_f, lr_r and lr_p at (0-based) ``step``; see the module docstring."""
        if self.lr_schedule == "constant":
            return 1.0
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(self.total_steps - self.warmup_steps, 1)
        t = min(max((step - self.warmup_steps) / span, 0.0), 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * t))

    @property
    def loss_alpha1(self) -> float:
        """α1 as the losses take it: ∇ in Lf_grad is ``gradient_scale`` × the normalised Sobel magnitude, and
        Lf_grad is quadratic in ∇, so the scale enters as its square (up to the 1e-6 under the magnitude's root)."""
        return self.alpha1 * self.gradient_scale ** 2

    @property
    def loss_alpha2(self) -> float:
        """α2 as the losses take it (see :attr:`loss_alpha1`)."""
        return self.alpha2 * self.gradient_scale ** 2

    @property
    def phase_steps(self) -> tuple[int, int]:
        """(meta steps, fusion-and-reconstruction steps) per epoch after the ablation switch: I, II and V have
        no meta phase, III no N phase. The one owner of the run's length: the trainer, its ETA and the
        learning-rate schedule all read it (the schedule once counted the skipped phase, so under an ablation
        the cosine never reached 0: ``cpu-refine --ablation I`` ended near 18 % of the peak rate)."""
        if self.ablation in ("I", "II", "V"):
            return 0, self.fuse_steps
        if self.ablation == "III":
            return self.meta_steps, 0
        return self.meta_steps, self.fuse_steps

    @property
    def steps_per_epoch(self) -> int:
        return sum(self.phase_steps)

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainSettings":
        """Settings as ``to_dict`` stored them; those stored before ``gradient_scale`` existed were trained with
        the normalised Sobel in the losses, so they read as gradient_scale 1 (the module docstring)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{"gradient_scale": LEGACY_GRADIENT_SCALE, **{k: v for k, v in d.items() if k in known}})

    @classmethod
    def preset(cls, name: str, **overrides) -> "TrainSettings":
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], "preset_name": name, **overrides})


# The numeric settings that ``refusion train`` can set over a preset (``--meta-batch`` for ``meta_batch``, ...),
# with their types; one list for the parser and for the command.
OVERRIDABLE: dict[str, type] = {
    "epochs": int, "meta_steps": int, "fuse_steps": int, "crop": int, "batch": int, "meta_batch": int,
    "seed": int, "inner_lr": float, "adam_eps_p": float, "checkpoint_every": int, "warmup_steps": int,
    "lr_f": float, "lr_r": float, "lr_p": float, "gradient_scale": float, "darken": float,
    "crush": float, "stretch": float,
}

PRESETS: dict[str, dict] = {
    # The paper's schedule: 50 × (600 + 1600) steps at 128×128, batch 4 (GPU days on a CPU).
    "paper": {},
    # Fine-tunes visibly in a few minutes on a laptop CPU: 3 epochs of 10 meta + 30 plain steps at 64×64.
    "quick": dict(epochs=3, meta_steps=10, fuse_steps=30, crop=64, batch=4, lr_f=2e-4, lr_r=2e-4,
                  lr_p=2e-4, checkpoint_every=40, preview_every=10),
    # Trains a task from scratch in under an hour on a 2-core CPU (the recipe of the shipped default
    # weights): 6 epochs of 15 meta + 100 plain steps at 96×96, larger learning rates for the short schedule.
    "cpu-hour": dict(epochs=6, meta_steps=15, fuse_steps=100, crop=96, batch=4, lr_f=5e-4, lr_r=5e-4,
                     lr_p=1e-3, checkpoint_every=50, preview_every=25),
    # Refines trained weights (--init) in about a quarter of an hour on a 2-core CPU: 10 epochs at the paper's
    # ratio of meta to plain steps (30 + 80 ≈ 600 : 1600), cpu-hour's learning rates warmed up over 30
    # steps and decayed to 0 by a cosine.
    "cpu-refine": dict(epochs=10, meta_steps=30, fuse_steps=80, crop=96, batch=4, lr_f=5e-4, lr_r=5e-4,
                       lr_p=1e-3, lr_schedule="cosine", warmup_steps=30, checkpoint_every=50,
                       preview_every=25),
}


START_FIELDS = {"gradient_scale": LEGACY_GRADIENT_SCALE, "darken": 0.0, "crush": 0.0, "stretch": 0.0}
"""The settings a fine-tune takes from the model it starts from, with the value a stored record without the field
means: the losses' ∇ scale and the crop augmentation (see :func:`with_start_settings`)."""


def with_start_settings(settings: TrainSettings, init, task: str, fields=tuple(START_FIELDS)) -> TrainSettings:
    """``settings`` with ``fields`` (default all of START_FIELDS) as the model a fine-tune starts from was trained
    with (``init``: a weights path or a ModelBundle; None: from scratch, unchanged). A fine-tune goes on with the loss
    its start was trained on: the defaults trained before 2026-12-05 (their stored settings lack ``gradient_scale``)
    with the normalised Sobel (1), later ones with what they record; and with its start's darkening, so that a
    fine-tune on pairs without dark regions does not unlearn them (the infrared–visible default). A file without
    training settings (the authors' released checkpoints) keeps ``settings``' own. Why the scale: F trained on one
    scale and switched to a 64 times stronger gradient term can break down (the medical default did within one
    12-minute campaign slice: hold-out SF 17.2 -> 7.5). The command line passes only the fields it was not given,
    so a user's explicit choice wins."""
    if init is None:
        return settings
    from refusion_core.models.checkpoint import ModelBundle, load_model
    meta = init.meta if isinstance(init, ModelBundle) else load_model(init, task).meta
    stored = meta.get("settings")
    if not isinstance(stored, dict):
        return settings
    return dataclasses.replace(settings, **{f: float(stored.get(f, START_FIELDS[f])) for f in fields})
