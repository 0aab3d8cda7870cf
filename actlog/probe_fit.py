"""What is wrong with a probe array that does not fit a model input: one diagnosis per mistake
people make with image arrays, naming the fix. Pure: shapes in, a sentence out.

The mistakes, in the order they are told apart:

* a single sample without its batch axis (``x`` for ``x[None]``), with or without its channel
  axis;
* a missing channel axis (``(8, 28, 28)`` for ``(None, 28, 28, 1)``, or a volume
  ``(8, 128, 128, 64)`` for ``(None, 128, 128, 64, 1)``), or an extra one of size 1;
* channels first for a channels-last input, or the other way round;
* grayscale for RGB, or RGB for grayscale (or another channel count);
* the wrong spatial size.
"""

from __future__ import annotations

from collections.abc import Sequence

Shape = Sequence[int | None]


def diagnose(got: Sequence[int], expected: Shape) -> str:
    """The mistake that makes an array of shape ``got`` not fit an input of shape ``expected``
    (batch first, ``None`` for any size), and its fix, as a sentence; empty when none of the
    known mistakes explains it.

    Example:
        ```python
        diagnose((8, 128, 128, 64), (None, 128, 128, 64, 1))
        # "It has no channel axis: add it with x[..., None] (shape (8, 128, 128, 64, 1))."
        ```
    """
    got, want = tuple(got), tuple(expected)
    sample = want[1:]
    if _fits(got, sample):
        return f"It looks like a single sample: add the batch axis, x[None] (shape {(1, *got)})."
    if len(sample) >= 2 and sample[-1] == 1 and _fits(got, sample[:-1]):
        return ("It looks like a single sample without its channel axis: add both, x[None, ..., "
                f"None] (shape {(1, *got, 1)}).")  # fmt: skip
    if len(got) == len(want) - 1 and want[-1] is not None and _fits(got[1:], want[1:-1]):
        return (f"It has no channel axis: add it with x[..., None] (shape {(*got, want[-1])})."
                if want[-1] == 1 else
                f"It has no channel axis, and the model takes {want[-1]} channels.")  # fmt: skip
    if len(got) == len(want) + 1 and got[-1] == 1 and _fits(got[:-1], want):
        return f"It has an extra axis of size 1 at the end: drop it, x[..., 0] (shape {got[:-1]})."
    if len(got) == len(want) >= 4:
        channels, spatial = want[-1], want[1:-1]
        if got[1] == channels and _fits(got[2:], spatial) and got[-1] != channels:
            moved = (got[0], *got[2:], got[1])
            return ("It is channels first (batch, channels, ...) but the model takes channels "
                    f"last: move the axis, np.moveaxis(x, 1, -1) (shape {moved}).")  # fmt: skip
        if got[-1] == want[1] and _fits(got[1:-1], want[2:]) and got[1] != want[1]:
            moved = (got[0], got[-1], *got[1:-1])
            return ("It is channels last but the model takes channels first (batch, channels, "
                    f"...): move the axis, np.moveaxis(x, -1, 1) (shape {moved}).")  # fmt: skip
        if _fits(got[1:-1], spatial) and channels is not None and got[-1] != channels:
            return _channels(got[-1], channels)
        if (channels is None or got[-1] == channels) and not _fits(got[1:-1], spatial):
            size = "x".join("?" if d is None else str(d) for d in spatial)
            known = [d for d in spatial if d is not None]
            resize = (f" e.g. with keras.ops.image.resize(x, {tuple(known)})"
                      if len(spatial) == 2 and len(known) == 2 else "")  # fmt: skip
            return (f"Its spatial size is {'x'.join(map(str, got[1:-1]))} but the model takes "
                    f"{size}: resize the probe as your training data is resized,{resize}.")
    return ""


def _channels(got: int, want: int) -> str:
    if got == 1 and want == 3:
        return ("It is grayscale (1 channel) but the model takes RGB (3): repeat the channel, "
                "np.repeat(x, 3, axis=-1).")
    if got == 3 and want == 1:
        return ("It is RGB (3 channels) but the model takes grayscale (1): convert it, e.g. "
                "x.mean(axis=-1, keepdims=True).")
    return f"It has {got} channels but the model takes {want}."


def _fits(got: Sequence[int], want: Shape) -> bool:
    return len(got) == len(want) and all(w is None or w == g for g, w in zip(got, want,
                                                                              strict=True))


def dtype_note(got: str, want: str) -> str:
    """What actlog does with a probe of dtype ``got`` for an input of dtype ``want``, when a
    user may not expect it (integer images into a float model), else empty.

    Example:
        ```python
        dtype_note("uint8", "float32")  # "The probe is uint8 ...: cast to float32 unscaled ..."
        ```
    """
    if got.startswith(("uint", "int")) and want.startswith(("float", "bfloat")):
        return (f"The probe is {got}; actlog casts it to {want} without scaling, as Keras does "
                "with integer inputs to fit(). If your model trains on images scaled to [0, 1], "
                "scale the probe the same way (x / 255).")
    return ""
