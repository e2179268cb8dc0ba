"""Clips longer than the transformer's training window, generated window by window.

The transformer denoises a whole window at once (17 frames for minisora-tiny); asked for more, it
would have to attend over a sequence it never saw in training. Instead the clip is built the way Sora
extends videos: the first window is generated from the prompt (or image), then each next window is a
forward extension whose first latent frames are the previous window's last ones (the pipeline's
`extend="forward"`, the trained frame-conditioning mechanism), so colour, shape and motion carry over
the joints. The last window is trimmed to the asked length.

    frames   17 | 8 | 8 | ...     (minisora-tiny: window 17, extend_context 3 latent frames = 9 pixel
                                   frames of overlap; 2 would give 17 | 12 | 12 | ...)

Window i uses seed + i (or the next draws of the caller's generator), so the same seed gives the same
long clip. The prompt is rewritten once: every later window is conditioned on the first window's
caption as it is (a rewriter given seed + i would fill the unstated details, such as the background,
differently per window, and the clip would change scene at each joint).
"""

from __future__ import annotations

import numpy as np


def new_frames_per_extension(window: int, extend_context: int, temporal_factor: int) -> int:
    """Pixel frames a forward extension adds: the window less its (k - 1) * tf + 1 context frames."""
    return window - (1 + (extend_context - 1) * temporal_factor)


def generate_in_windows(pipe, prompt: str, *, num_frames: int, window: int, seed: int | None, generator,
                        upscale: int, upscale_time: int, progress: bool, **call):
    """Generate `num_frames` frames as a first window of `window` frames plus forward extensions.

    pipe: the Pipeline (its __call__ makes each window); call: the remaining __call__ keyword
    arguments (negative_prompt, height, width, steps, guidance, image, ...), passed to every window
    except image=, which conditions the first only. Returns one PipelineOutput for the whole clip.
    """
    tf = pipe.vae.temporal_factor
    k = max(1, min(pipe.index.defaults.extend_context, (window - 1) // tf))  # as the pipeline's extend
    step = new_frames_per_extension(window, k, tf)
    if step < 1:
        raise ValueError(f"the window of {window} frames leaves no new frames after {k} latent frames of context")
    n_windows = 1 + -(-(num_frames - window) // step)  # ceil
    image = call.pop("image", None)
    outs = []
    for i in range(n_windows):
        kw = dict(call, num_frames=window, generator=generator, progress=progress, upscale=1, upscale_time=1,
                  seed=None if seed is None else seed + i)
        if i == 0:
            outs.append(pipe(prompt, image=image, **kw))
        else:
            so_far = np.concatenate([o.frames for o in outs])
            kw["rewrite"] = False  # the first window's caption, as it is (module docstring)
            outs.append(pipe(outs[0].caption, video=so_far, extend="forward", **kw))
    frames = np.concatenate([o.frames for o in outs])[:num_frames]  # T, H, W, 3
    first = outs[0]
    fps = first.fps
    if upscale > 1 or upscale_time > 1:
        frames = pipe.upscaler(frames, scale=upscale, time_scale=upscale_time, seed=int(seed or 0), progress=progress)
        fps *= upscale_time
    timings = {name: round(sum(o.timings.get(name, 0.0) for o in outs), 4) for name in first.timings}
    settings = dict(first.settings, num_frames=num_frames, windows=n_windows, window_frames=window,
                    overlap_frames=window - step, upscale=upscale, upscale_time=upscale_time)
    return type(first)(frames=frames, fps=fps, prompt=prompt, caption=first.caption,
                       negative_prompt=first.negative_prompt, seed=first.seed, settings=settings,
                       timings=timings, rewrite=first.rewrite, latents=None)


def window_spans(settings: dict) -> list[tuple[int, int]]:
    """[start, end) frames of each window of a clip made by `generate_in_windows`, read from its
    settings (one span, the whole clip, for a clip made in one window). Frame-rate upscaling is not
    accounted for: judge windows on clips made at the model's frame rate."""
    n = int(settings["num_frames"])
    if int(settings.get("windows", 1)) <= 1:
        return [(0, n)]
    window, step = int(settings["window_frames"]), int(settings["window_frames"]) - int(settings["overlap_frames"])
    return [(i * step, min(i * step + window, n)) for i in range(int(settings["windows"]))]
