"""Random access to the frames of a video file, for datasets: probe once, then decode only the
frames a clip needs (reading whole files is `minisora.io.read_video`)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from minisora.io import READ_FORMATS, VideoReadError, checked_suffix, decoder_errors, read_video


def probe_video(path) -> tuple[int, float, int, int]:
    """(num_frames, fps, height, width) of a video without decoding pictures where possible.

    For FFmpeg containers the frame count comes from the stream header, or from counting packets
    when the header does not say; GIF and PNG files are read whole (they are small).
    """
    path = Path(path)
    ext = checked_suffix(path, READ_FORMATS, "read")
    if not path.is_file():
        raise FileNotFoundError(f"no such video file: {str(path)!r}")
    if ext in (".gif", ".png"):
        frames, fps = read_video(path)
        return frames.shape[0], fps, frames.shape[1], frames.shape[2]
    import av

    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                raise VideoReadError(f"cannot read {str(path)!r}: it holds no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            n = stream.frames or sum(1 for p in container.demux(stream) if p.size)
            height, width = stream.height, stream.width
    except VideoReadError:
        raise
    except Exception as e:
        raise VideoReadError(f"cannot read {str(path)!r}: {type(e).__name__}: {e}") from e
    if not n or not rate or not height or not width:
        raise VideoReadError(f"cannot read {str(path)!r}: no frames, size or frame rate in its header "
                             f"(frames={n}, fps={rate}, size={width}x{height})")
    return int(n), float(rate), int(height), int(width)


def read_frames(path, indices: Sequence[int], size: tuple[int, int] | None = None,
                decode_errors: list | None = None) -> tuple[np.ndarray, int]:
    """Decode only the frames at `indices` (non-decreasing, may repeat) -> (uint8 (len, H, W, 3),
    number of indices that lay past the end of the file and were filled with the last frame).

    size: optional (height, width) to scale each decoded frame to (FFmpeg's area filter, i.e. an
    antialiased downscale) before it is converted to RGB, which is much cheaper than scaling a
    stack of full-size frames afterwards.

    Decoding runs from the start and stops after the last index needed, so a short clip from
    the beginning of a long file stays cheap; raises VideoReadError if nothing decodes. Decoder
    errors inside the file are reported as in `read_video` (`decode_errors`).
    """
    path = Path(path)
    ext = checked_suffix(path, READ_FORMATS, "read")
    idx = [int(i) for i in indices]
    if not idx or any(i < 0 for i in idx) or any(b < a for a, b in zip(idx, idx[1:])):
        raise ValueError(f"indices must be a non-empty, non-decreasing list of frame numbers >= 0, got {idx[:8]}...")
    if ext in (".gif", ".png"):
        frames, _ = read_video(path, decode_errors)
        if size is not None:
            from PIL import Image

            frames = np.stack([np.asarray(Image.fromarray(f).resize((size[1], size[0]), Image.BOX))
                               for f in frames])
        got = {i: frames[i] for i in set(idx) if i < len(frames)}
    else:
        import av

        wanted, last = set(idx), idx[-1]
        got = {}
        try:
            with decoder_errors(path, decode_errors), av.open(str(path), mode="r") as container:
                stream = container.streams.video[0]
                # Slice threads only: frame threads ("AUTO"/"FRAME") can hang for good when the loop
                # below breaks before the file's end with torch imported (PyAV issues 1849 and 1861),
                # which a full test run hit once on the truncated clip of test_video_folder.
                stream.thread_type = "SLICE"
                def convert(frame) -> np.ndarray:
                    if size is not None:
                        frame = frame.reformat(width=size[1], height=size[0], format="rgb24",
                                               interpolation="AREA")
                    return frame.to_ndarray(format="rgb24")

                i, frame = -1, None
                for i, frame in enumerate(container.decode(stream)):
                    if i in wanted:
                        got[i] = convert(frame)
                    if i >= last:
                        break
                if frame is not None and i < last and i not in got:
                    got[i] = convert(frame)  # the file's true last frame, for padding below
        except Exception as e:
            if not got:
                raise VideoReadError(f"cannot read {str(path)!r}: {type(e).__name__}: {e}") from e
            # A file cut off mid-stream: keep what decoded, fill the rest below.
    if not got:
        raise VideoReadError(f"cannot read {str(path)!r}: none of the requested frames {idx[:4]}... decoded")
    # Indices past the end of the file repeat its last frame (the nearest earlier decoded one).
    decoded = sorted(got)
    out, filled = [], 0
    for i in idx:
        if i in got:
            out.append(got[i])
        else:
            filled += 1
            earlier = [k for k in decoded if k <= i]
            out.append(got[earlier[-1] if earlier else decoded[0]])
    return np.stack(out), filled
