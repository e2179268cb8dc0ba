"""Training the upscaler: `train_upscaler(cfg) -> summary` (the `minisora train-upscaler` command), a
`Task` of the training harness (train/harness.py runs the loop, checkpoints, EMA, schedule, metrics).

Data: MovingShapes pairs, the same scene spec rendered twice, at the low-res size and at 2x the
size with 2x the frames at 2x the fps (same duration), so one render serves both the spatial task
(every other high-res frame) and the temporal one. Scenes are rendered lazily into a pool and
reused: each use draws a random window of frames, horizontal/vertical flips and time reversal (the
renderer's physics is symmetric under all three), so the pool is seen in many variants. The batch
of step k is a pure function of (seed, k), so a resumed run continues exactly.

Objective: the project's rectified-flow loss (`flow.training.flow_matching_loss`) on the scaled
residual x_hi - base with the condition as `extra_cond` (see `condition.py`), text always null,
no frame conditioning, no token-dependent shift (the residual's difficulty does not grow with the
number of tokens the way a whole image's does).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from minisora.config import to_dict
from minisora.world.render import render
from minisora.world.scenes import sample_scene
from minisora.dit.model import DiT
from minisora.flow.objective import interpolate, predict_data
from minisora.flow.schedules import sample_logit_normal, shift_time
from minisora.io import pixels_to_unit, unit_to_pixels
from minisora.flow.training import FlowTrainConfig, flow_matching_loss
from minisora.train.config import ParallelConfig
from minisora.train.distributed import DistInfo, apply_parallelism
from minisora.train.ema import EMA
from minisora.train.harness import Loop, fit, flat_loop, release_folder
from minisora.precision import autocast as precision_autocast
from minisora.upscale.condition import build_condition, upsample_space
from minisora.upscale.config import UpscaleTrainConfig, UpscalerConfig
from minisora.upscale.model import Upscaler, velocity_model



def flow_config(cfg: UpscaleTrainConfig) -> FlowTrainConfig:
    """The flow objective for the residual: no text dropout (text is always null), no given frames,
    timesteps centred at cfg.logit_mean (> 0 leans towards the noise end, where x-prediction learns
    the posterior mean; the low-t samples, weighted 1/t^2 in the velocity loss, add mostly noise)."""
    return FlowTrainConfig(text_drop_prob=0.0, frame_cond_prob=0.0, token_dependent_shift=False, base_shift=1.0,
                           logit_mean=cfg.logit_mean)


class PairPool:
    """Scene i -> (lo uint8 (T, h, w, 3), hi uint8 (2T-1, 2h, 2w, 3)); hi at twice the fps.

    The low-res size of scene i is sizes[i % len(sizes)]; scenes are rendered on first use and kept.
    """

    def __init__(self, n: int, sizes: list[tuple[int, int]], num_frames: int, fps: float, seed: int,
                 split: str = "train"):
        self.n, self.sizes, self.num_frames, self.fps, self.seed, self.split = n, list(sizes), num_frames, fps, seed, split
        self.items: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def size_of(self, i: int) -> tuple[int, int]:
        return self.sizes[i % len(self.sizes)]

    def spec(self, i: int):
        return sample_scene(np.random.default_rng([self.seed, i]), split=self.split)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if i not in self.items:
            h, w = self.size_of(i)
            s = self.spec(i)
            T = self.num_frames
            self.items[i] = (render(s, h, w, T, self.fps), render(s, 2 * h, 2 * w, 2 * T - 1, 2 * self.fps))
        return self.items[i]


def _to_tensor(frames: np.ndarray) -> torch.Tensor:
    return pixels_to_unit(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)  # 3, T, H, W


def make_batch(pool: PairPool, step: int, cfg: UpscaleTrainConfig, ucfg: UpscalerConfig) -> dict:
    """The batch of `step`, a pure function of (cfg.seed, step): lo (B, 3, Tl, h, w), hi (B, 3, Tw, 2h, 2w),
    time_scale, and per-sample crop corners `corners` [(y, x)] of `crop` (ch, cw) output pixels.
    Windows hold Tw = window_frames target frames (odd for the temporal task, so a window starts and
    ends on an original frame, as the inference windows do)."""
    rng = np.random.default_rng([cfg.seed, 1, step])
    time_scale = 2 if rng.random() < cfg.time_prob else 1
    size_id = int(rng.integers(len(pool.sizes)))
    # scene indices of this size: size_id, size_id + len(sizes), ...
    per_size = math.ceil((pool.n - size_id) / len(pool.sizes))
    idxs = size_id + len(pool.sizes) * rng.integers(per_size, size=cfg.batch_size)
    T = cfg.num_frames
    W = min(ucfg.window_frames, T if time_scale == 1 else 2 * T - 1)
    if time_scale == 2 and W % 2 == 0:
        W -= 1
    h, w = pool.size_of(int(idxs[0]))
    H, Wd = ucfg.scale * h, ucfg.scale * w
    ch, cw = (min(cfg.crop, H), min(cfg.crop, Wd)) if cfg.crop else (H, Wd)
    los, his, corners = [], [], []
    for i in idxs:
        lo, hi2 = pool[int(i)]
        if time_scale == 1:
            t0 = int(rng.integers(T - W + 1))
            lo_w, hi_w = lo[t0:t0 + W], hi2[0::2][t0:t0 + W]
        else:
            s = 2 * int(rng.integers((2 * T - 1 - W) // 2 + 1))  # even start in target frames
            lo_w, hi_w = lo[s // 2:s // 2 + (W + 1) // 2], hi2[s:s + W]
        if rng.random() < 0.5:
            lo_w, hi_w = lo_w[:, :, ::-1], hi_w[:, :, ::-1]
        if rng.random() < 0.5:
            lo_w, hi_w = lo_w[:, ::-1], hi_w[:, ::-1]
        if rng.random() < 0.5:
            lo_w, hi_w = lo_w[::-1], hi_w[::-1]
        los.append(_to_tensor(lo_w))
        his.append(_to_tensor(hi_w))
        corners.append((int(rng.integers(H - ch + 1)), int(rng.integers(Wd - cw + 1))))
    return {"lo": torch.stack(los), "hi": torch.stack(his), "time_scale": time_scale, "corners": corners,
            "crop": (ch, cw)}


def training_loss(dit: torch.nn.Module, ucfg: UpscalerConfig, batch: dict, generator: torch.Generator,
                  cond_noise_prob: float, flow: FlowTrainConfig, loss_space: str = "x") -> tuple[torch.Tensor, dict]:
    """Flow loss of one batch: noise-augment the condition, build it on whole frames (so crops see the
    same bicubic values as inference tiles do), crop, regress the scaled residual."""
    lo, hi = batch["lo"], batch["hi"]
    B = lo.shape[0]
    on = torch.rand(B, generator=generator) < cond_noise_prob
    sigma = torch.where(on, torch.rand(B, generator=generator) * ucfg.cond_noise_max, torch.zeros(B))
    aug = torch.randn(lo.shape, generator=generator)
    base, extra = build_condition(lo, ucfg.scale, batch["time_scale"], sigma, aug)  # B, 3|5, Tw, H, W
    if base.shape != hi.shape:
        raise ValueError(f"condition {tuple(base.shape)} does not match the target {tuple(hi.shape)}")
    ch, cw = batch["crop"]
    crops = [(slice(None), slice(None), slice(y, y + ch), slice(x, x + cw)) for y, x in batch["corners"]]
    target = torch.stack([(hi[b] - base[b])[c] for b, c in enumerate(crops)]) * ucfg.residual_scale  # B, 3, Tw, ch, cw
    extra = torch.stack([extra[b][c] for b, c in enumerate(crops)])  # B, 5, Tw, ch, cw
    tokens, mask, pooled = dit.null_text(B)
    if loss_space == "v":
        return flow_matching_loss(velocity_model(dit, ucfg), target, tokens, mask, pooled, flow,
                                  generator=generator, extra_cond=extra)
    return x_space_loss(velocity_model(dit, ucfg), target, (tokens, mask, pooled), extra, flow, generator)


def x_space_loss(model: torch.nn.Module, x_data: torch.Tensor, text: tuple, extra: torch.Tensor,
                 flow: FlowTrainConfig, generator: torch.Generator) -> tuple[torch.Tensor, dict]:
    """The rectified-flow loss measured on the data estimate: |x_hat - x_data|^2 with
    x_hat = x_t - t v_hat, i.e. the velocity loss of `flow_matching_loss` weighted by t^2. Same
    minimiser at every t (the conditional mean), different emphasis over t: the velocity loss weighs
    an error at t by 1/t^2 relative to this one, so its gradient comes almost entirely from nearly
    clean inputs, and the t ~ 1 regime - where x_hat is the posterior mean of the residual given
    the low-res clip, the estimate the stage returns in one step - barely learned (measured: after
    800 steps its prediction had 4% of the target's power)."""
    B = x_data.shape[0]
    t = shift_time(sample_logit_normal(B, flow.logit_mean, flow.logit_std, generator), flow.base_shift)
    x_noise = torch.randn(x_data.shape, generator=generator)
    x_t = interpolate(x_data, x_noise, t)
    x_hat = predict_data(x_t, t, model(x_t, t, *text, extra_cond=extra).float())
    loss = (x_hat - x_data).square().mean()
    return loss, {"loss": float(loss.detach()), "t_mean": float(t.mean())}


def validation_set(cfg: UpscaleTrainConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """Held-out scenes (split 'heldout', seed offset) at the first size: (lo, hi) 17-frame pairs."""
    pool = PairPool(cfg.val_clips, [cfg.sizes[0]], cfg.num_frames, cfg.fps, cfg.seed + 10_000, split="heldout")
    return [(pool[i][0], pool[i][1][0::2]) for i in range(cfg.val_clips)]


def evaluate(upscaler: Upscaler, val: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Mean PSNR of the stage and of bicubic upsampling against the high-res renders."""
    from minisora.eval.metrics import psnr

    ours, bic = [], []
    for lo, hi in val:
        ours.append(psnr(upscaler(lo, seed=0), hi))
        up = upsample_space(_to_tensor(lo)[None], upscaler.config.scale)[0]
        bic.append(psnr(unit_to_pixels(up).permute(1, 2, 3, 0).numpy(), hi))
    return {"val_psnr": float(np.mean(ours)), "val_psnr_bicubic": float(np.mean(bic))}


# Fields that may change when a run is resumed: the budget, where the run lives, and what only reports.
BUDGET_KEYS = ("steps", "minutes", "log_every", "eval_every", "save_every", "keep_last", "threads", "run_dir",
               "release_dir", "data_cache", "resume")


class UpscalerTask:
    """The upscaler's part of a run (see the module docstring)."""

    def __init__(self, cfg: UpscaleTrainConfig, ucfg: UpscalerConfig, info: DistInfo):
        self.cfg, self.ucfg, self.info = cfg, ucfg, info
        self.model = DiT(ucfg.dit).train()
        self.model_config = {"upscaler": to_dict(ucfg)}
        self.flow = flow_config(cfg)
        self.pool = PairPool(cfg.pool_size, cfg.sizes, cfg.num_frames, cfg.fps, cfg.seed)
        self.val = validation_set(cfg) if cfg.val_clips else []

    def param_groups(self) -> list[dict]:
        return [{"params": list(self.model.parameters())}]

    def wrap(self, model: DiT, info: DistInfo) -> torch.nn.Module:
        return apply_parallelism(model, ParallelConfig(), info)

    def start(self, data_state: dict | None) -> None:
        """Batches are a function of the step: there is no data position to restore."""

    def data_state(self) -> dict:
        return {}

    def micro_batch(self, step: int, index: int, count: int) -> dict:
        return make_batch(self.pool, step - 1, self.cfg, self.ucfg)

    def loss(self, model: torch.nn.Module, batch: dict, generator: torch.Generator):
        with precision_autocast(self.cfg.precision, self.info.device):
            loss, stats = training_loss(model, self.ucfg, batch, generator, self.cfg.cond_noise_prob, self.flow,
                                        self.cfg.loss_space)
        return loss, {"t_mean": stats["t_mean"]}

    def released(self, model: DiT, ema: EMA | None) -> Upscaler:
        """An Upscaler holding the weights that get released (the EMA's when there is one)."""
        dit = copy.deepcopy(model)
        if ema is not None:
            ema.copy_to(dit)
        return Upscaler(self.ucfg, dit.eval()).set_precision(self.cfg.precision)

    def evaluate(self, step: int, model: DiT, ema: EMA | None) -> dict:
        return evaluate(self.released(model, ema), self.val) if self.val else {}

    def release(self, step: int, model: DiT, ema: EMA | None, record: dict) -> None:
        self.released(model, ema).save_pretrained(release_folder(self.cfg))


def loop_config(cfg: UpscaleTrainConfig, allow_changed: bool = False, progress: bool = True) -> Loop:
    return flat_loop(cfg, "train-upscaler", BUDGET_KEYS, betas=(0.9, 0.99), ema_decay=cfg.ema_decay,
                     ema_start=cfg.ema_start, micro_batch_size=cfg.batch_size, allow_changed=allow_changed,
                     progress=progress)


def train_upscaler(cfg: UpscaleTrainConfig, ucfg: UpscalerConfig | None = None, progress: bool = True,
                   allow_changed: bool = False) -> dict:
    """Train (or resume) a run in `cfg.run_dir`; returns the harness's summary with the last metrics."""
    release_folder(cfg)  # a release folder inside the package is refused before any work
    ucfg = ucfg or UpscalerConfig.preset(cfg.preset)
    return fit(loop_config(cfg, allow_changed, progress), lambda info: UpscalerTask(cfg, ucfg, info))
