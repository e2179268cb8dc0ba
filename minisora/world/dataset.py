"""`MovingShapesDataset`: MovingShapes clips rendered on the fly, with captions and prompts."""

from __future__ import annotations

import numpy as np
import torch

from minisora.io import pixels_to_unit
from minisora.world import vocabulary as V
from minisora.world.captions import write_caption, write_prompt
from minisora.world.render import check_geometry, render
from minisora.world.scenes import SPLITS, check_count_probs, sample_scene
from minisora.world.spec import SceneSpec


class MovingShapesDataset(torch.utils.data.Dataset):
    """`n` MovingShapes clips rendered on the fly; item i is a pure function of (seed, i, split).

    Items: {"video": float32 (3, T, H, W) in [-1, 1], "caption": dense caption, "prompt": short
    user-style prompt, "spec": SceneSpec.to_dict()}.

    late_share, late_start_max: a share of the clips (drawn per item) are windows that start 1 to
    late_start_max frames (uniform) into their scene's take rather than at its first frame. A scene
    is laid out so that its objects stay in view for the first REFERENCE_NUM_FRAMES frames; a late
    window shows them where a long clip's later windows do (`minisora.long_clips`): mid-path, leaving
    the frame, gone, or after a second bounce. The caption is the scene's, as a long clip's later
    windows get the first one's. Items carry "window_start" (0 for the others), because a late
    window is only ever a continuation: trainers give its first frames as context
    (`minisora.flow.conditioning`), never ask for it from text alone.
    """

    def __init__(self, n: int, height: int = 64, width: int = 64, num_frames: int = 17, fps: float = 8.0,
                 split: str = "train", seed: int = 0, max_objects: int = V.MAX_OBJECTS,
                 occluder_prob: float = 0.15, count_probs: tuple[float, ...] | None = None,
                 late_share: float = 0.0, late_start_max: int = 48) -> None:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        check_geometry(height, width, num_frames, fps)
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
        self.n, self.height, self.width, self.num_frames, self.fps = n, height, width, num_frames, float(fps)
        self.split, self.seed = split, int(seed)
        self.max_objects, self.occluder_prob = max_objects, occluder_prob
        self.count_probs = None if count_probs is None else tuple(check_count_probs(count_probs, max_objects))
        if not (isinstance(late_share, (int, float)) and 0.0 <= late_share <= 1.0):
            raise ValueError(f"late_share must be a share in [0, 1], got {late_share!r}")
        if not isinstance(late_start_max, int) or isinstance(late_start_max, bool) or late_start_max < 1:
            raise ValueError(f"late_start_max must be an integer >= 1 (frames), got {late_start_max!r}")
        self.late_share, self.late_start_max = float(late_share), late_start_max

    def __len__(self) -> int:
        return self.n

    def scene(self, index: int) -> tuple[SceneSpec, np.random.Generator]:
        """The scene of item `index` and the generator positioned after sampling it."""
        if not -self.n <= index < self.n:
            raise IndexError(f"index {index} out of range for a dataset of {self.n} clips")
        index %= self.n
        # The split is part of the seed so that train and heldout sets never share a stream.
        rng = np.random.default_rng([self.seed, index, SPLITS.index(self.split)])
        return sample_scene(rng, self.split, self.max_objects, self.occluder_prob, self.count_probs), rng

    def captions(self, index: int, n: int) -> list[str]:
        """Item `index`'s caption and up to n - 1 more distinct phrasings of its scene (a latent cache
        stores each with the same latents: text variety at the cost of a caption, not of a VAE pass)."""
        spec, rng = self.scene(index)
        caps = [write_caption(spec, rng)]
        extra = np.random.default_rng([self.seed, index % self.n, SPLITS.index(self.split), 7])
        for _ in range(4 * n):  # distinct phrasings where the writer offers them
            if len(caps) >= n:
                break
            c = write_caption(spec, extra)
            if c not in caps:
                caps.append(c)
        return caps

    def window_start(self, index: int) -> int:
        """The frame of its scene's take at which item `index` starts (0 but for late windows)."""
        if not self.late_share or self.num_frames == 1:
            # an image is never late: training never conditions it on frames (nothing would be left
            # to learn), so a late one would teach text-to-image a half-empty scene
            return 0
        # its own stream, so that the scenes and captions are those of late_share=0
        rng = np.random.default_rng([self.seed, index % self.n, SPLITS.index(self.split), 11])
        late, start = rng.random() < self.late_share, int(rng.integers(1, self.late_start_max + 1))
        return start if late else 0

    def _render(self, spec: SceneSpec, start: int) -> np.ndarray:
        return render(spec, self.height, self.width, start + self.num_frames, self.fps)[start:]

    def frames(self, index: int) -> np.ndarray:
        """Item `index` as uint8 (T, H, W, 3) frames, without captions (for pixel-only users)."""
        return self._render(self.scene(index)[0], self.window_start(index))

    def __getitem__(self, index: int) -> dict:
        spec, rng = self.scene(index)
        start = self.window_start(index)
        frames = self._render(spec, start)  # (T,H,W,3) uint8
        # Convert a contiguous copy: torch's elementwise ops on the permuted view were ~10x slower
        # than the render itself.
        video = pixels_to_unit(np.ascontiguousarray(frames.transpose(3, 0, 1, 2)))  # (3,T,H,W) in [-1, 1]
        return {"video": video, "caption": write_caption(spec, rng), "prompt": write_prompt(spec, rng),
                "spec": spec.to_dict(), "window_start": start}
