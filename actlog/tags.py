"""Tag names: the order TensorBoard shows them in, and the per-layer keys that keep its cards in
model order.

TensorBoard sorts its cards by tag name, naturally (runs of digits compare as numbers), and
never by the order they were written. A layer's tags are ``<kind>/<layer key>`` (such as
``activations/conv2d``, ``dead_filters/conv2d``); :func:`layer_keys` gives each logged layer one
key, used by every producer and so in every sink:

- the layer path itself when the paths of the logged layers already sort in model order
  (``"conv2d"``, ``"conv2d_1"``; VGG16's ``"block1_conv1"``, ...);
- otherwise the layer's position among all the layers of the model
  (:func:`actlog.layers.walk_layers`), zero-padded to the width of their count, a space, and the
  path: ``"013 mobilenetv2_1.00_224/block_1_expand_relu"``. The position counts every layer,
  logged or not, so it does not change with the layers chosen (whether the keys carry positions
  at all does).

The space ends the number that TensorBoard reads from the position (a ``.`` or ``e`` would not),
is valid in TensorBoard tags and W&B keys, and ``actlog animate`` turns it into ``_`` in file
names. :func:`find_tag` goes the other way: a bare layer path finds its tag, prefixed or not.

The comparison is a port of TensorBoard's own (:func:`compare_tags`). Pure: no I/O and no
TensorFlow.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

    from actlog.layers import LayerRef

#: Between a layer's position and its path in a prefixed key.
SEPARATOR = " "

#: The dashboards whose sort :func:`compare_tags` reproduces: ``"time_series"`` (the Time
#: Series dashboard, TensorBoard's default) and ``"images"`` (the Images tab and the other
#: Polymer dashboards). A layer key is kept plain only if both show the layers in model order.
RULES = ("time_series", "images")

_KEY = re.compile(r"([0-9]+) (.+)", re.DOTALL)
# A decimal literal as JavaScript reads one. parseFloat (the images rule) takes the longest
# start of the string that is one; Number (Time Series) takes only a whole string that is one,
# anything else is NaN. The strings come from _consume_number: they start with a digit and
# hold only digits, ".", "e", "E", "+" and "-".
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?")


def _is_digit(char: str) -> bool:
    return "0" <= char <= "9"


def _is_break_time_series(char: str) -> bool:
    return char == "/" or _is_digit(char)


def _is_break_images(char: str) -> bool:
    return char in "/_" or _is_digit(char)


def _parse_float(text: str) -> float:
    match = _DECIMAL.match(text)
    return float(match.group()) if match else math.nan


def _number(text: str) -> float:
    return float(text) if _DECIMAL.fullmatch(text) else math.nan


_RULES: dict[str, tuple[Callable[[str], bool], Callable[[str], float]]] = {
    "time_series": (_is_break_time_series, _number),
    "images": (_is_break_images, _parse_float),
}


def _consume_number(text: str, index: int) -> int:
    """The end of the number whose first digit is just before ``index`` (``consumeNumber``)."""
    state = "natural"
    while index < len(text):
        char = text[index]
        if state == "natural":
            if char == ".":
                state = "real"
            elif char in "eE":
                state = "exponent_sign"
            elif not _is_digit(char):
                break
        elif state == "real":
            if char in "eE":
                state = "exponent_sign"
            elif not _is_digit(char):
                break
        elif state == "exponent_sign":
            if _is_digit(char) or char in "+-":
                state = "exponent"
            else:
                break
        elif not _is_digit(char):  # exponent
            break
        index += 1
    return index


def _utf16(text: str) -> str:
    """``text`` as JavaScript indexes and compares it: one character per UTF-16 code unit."""
    if all(ord(char) <= 0xFFFF for char in text):
        return text
    data = text.encode("utf-16-le", "surrogatepass")
    return "".join(map(chr, struct.unpack(f"<{len(data) // 2}H", data)))


def compare_tags(a: str, b: str, rule: str = "time_series") -> int:
    """Compares two tag names as TensorBoard sorts them: -1, 0 or 1.

    A port of TensorBoard's ``compareTagNames``, in two variants as TensorBoard 2.21 ships them
    (the same in its ``webfiles.zip``):

    - ``rule="time_series"``: ``tensorboard/webapp/metrics/utils.ts``, the Time Series
      dashboard (it sorts every card by tag, then groups them by the part before the first
      ``/``);
    - ``rule="images"``: ``tensorboard/components/vz_sorting/sorting.ts`` (tests in
      ``tensorboard/components/vz_sorting/test/sortingTests.ts``), the Images tab and the other
      Polymer dashboards.

    The strings are walked side by side. Where both have a digit, a number is read from each
    (digits, an optional ``.`` and digits, an optional exponent ``e``/``E`` with a sign or
    digit) and the values compared: ``"a2b" < "a10b"``, ``"a0.01" < "a0.1"``,
    ``"a9e8" < "a1e9"``; equal values go on after them (``"1"`` and ``"01"`` are equal).
    Time Series reads the value with ``Number`` (a malformed number such as ``"1e"`` is NaN
    and equal to anything), the images rule with ``parseFloat`` (its longest valid start).
    Otherwise a *break* character sorts before any other: ``/`` and a digit (and ``_`` in the
    images rule), so ``"a/a" < "a+/a"``; two breaks are equal; two other characters compare
    by UTF-16 code unit (``"B" < "a"``). A string that ends first sorts first.

    Args:
        a: a tag.
        b: another tag.
        rule: ``"time_series"`` or ``"images"`` (see :data:`RULES`).

    Returns:
        -1 when TensorBoard shows ``a`` first, 1 when ``b`` first, 0 when it cannot tell them
        apart.

    Example:
        ```python
        compare_tags("activations/conv2d_2", "activations/conv2d_10")  # -1
        compare_tags("a_a", "a+_a", "images"), compare_tags("a_a", "a+_a")  # (-1, 1)
        ```
    """
    try:
        is_break, value = _RULES[rule]
    except KeyError:
        raise ValueError(f"rule must be one of {', '.join(RULES)}; got {rule!r}.") from None
    a, b = _utf16(a), _utf16(b)
    i = j = 0
    while True:
        if i == len(a):
            return 0 if j == len(b) else -1
        if j == len(b):
            return 1
        if _is_digit(a[i]) and _is_digit(b[j]):
            a_start, b_start = i, j
            i, j = _consume_number(a, i + 1), _consume_number(b, j + 1)
            a_value, b_value = value(a[a_start:i]), value(b[b_start:j])
            if a_value < b_value:
                return -1
            if a_value > b_value:
                return 1
            continue
        if is_break(a[i]):
            if not is_break(b[j]):
                return -1
        elif is_break(b[j]):
            return 1
        elif a[i] < b[j]:
            return -1
        elif a[i] > b[j]:
            return 1
        i += 1
        j += 1


def natural_key(tag: str, rule: str = "time_series") -> Any:
    """A sort key for ``tag`` that orders tags as TensorBoard does (:func:`compare_tags`).

    Args:
        tag: a tag name.
        rule: ``"time_series"`` or ``"images"`` (see :data:`RULES`).

    Returns:
        An object that compares with the keys of other tags as TensorBoard compares the tags.

    Example:
        ```python
        sorted(["b10", "b9", "a"], key=natural_key)  # ["a", "b9", "b10"]
        ```
    """
    return _cmp_key(rule)(tag)


@functools.cache
def _cmp_key(rule: str) -> Any:
    return functools.cmp_to_key(functools.partial(compare_tags, rule=rule))


def sort_tags(tags: Iterable[str], rule: str = "time_series") -> list[str]:
    """``tags`` in the order TensorBoard shows them (:func:`compare_tags`; stable on ties).

    Example:
        ```python
        sort_tags(["activations/Conv_1", "activations/Conv1"])  # Conv1 first: 1 < _
        ```
    """
    return sorted(tags, key=_cmp_key(rule))


def in_order(names: Sequence[str]) -> bool:
    """Whether TensorBoard shows ``names`` in this order, with every rule of :data:`RULES`:
    each one strictly before the next (no tie a sort could break either way), and sorting them
    gives them back.

    Example:
        ```python
        in_order(["conv2d", "conv2d_1"]), in_order(["block_2", "Conv1"])  # (True, False)
        ```
    """
    names = list(names)
    return all(
        all(compare_tags(a, b, rule) < 0 for a, b in itertools.pairwise(names))
        and sort_tags(reversed(names), rule) == names
        for rule in RULES
    )


def layer_tag(kind: str, key: str) -> str:
    """The tag of a layer's output of one kind: ``"<kind>/<layer key>"``.

    Example:
        ```python
        layer_tag("activations", "conv2d")  # "activations/conv2d"
        ```
    """
    return f"{kind}/{key}"


def split_tag(tag: str) -> tuple[str, str]:
    """A tag's kind and layer key: the inverse of :func:`layer_tag` (a layer key may hold
    ``/``, the kind does not).

    Example:
        ```python
        split_tag("activations/backbone/conv1")  # ("activations", "backbone/conv1")
        ```
    """
    kind, _, key = tag.partition("/")
    return kind, key


def layer_keys(model: keras.Model, refs: Sequence[LayerRef]) -> dict[str, str]:
    """The key of each logged layer in its tags, so that TensorBoard shows them in model order.

    Args:
        model: the model the layers belong to.
        refs: the logged layers, in model order (as :func:`actlog.layers.select_layers` gives
            them).

    Returns:
        Layer path -> key. The paths themselves when they already sort in model order for
        TensorBoard (:func:`in_order`); otherwise every path prefixed with its position in
        :func:`actlog.layers.walk_layers`, zero-padded to the width of the number of layers,
        and a space.

    Raises:
        ValueError: if a path in ``refs`` is not a layer of ``model``.

    Example:
        ```python
        layer_keys(vgg16, refs)  # {"block1_conv1": "block1_conv1", ...}
        layer_keys(mobilenet_v2, refs)  # {"Conv1": "001 Conv1", ..., "Conv_1": "151 Conv_1"}
        ```
    """
    from actlog.layers import walk_layers

    paths = [ref.path for ref in refs]
    if in_order(paths):
        return {path: path for path in paths}
    positions = {ref.path: index for index, ref in enumerate(walk_layers(model))}
    missing = [path for path in paths if path not in positions]
    if missing:
        raise ValueError(f"Not layers of model {model.name!r}: {', '.join(missing)}.")
    width = len(str(len(positions)))
    return {path: f"{positions[path]:0{width}d}{SEPARATOR}{path}" for path in paths}


def key_path(key: str) -> str:
    """The layer path in a layer key (the key itself when it has no position).

    Example:
        ```python
        key_path("012 backbone/block_1_expand")  # "backbone/block_1_expand"
        key_path("conv2d")  # "conv2d"
        ```
    """
    match = _KEY.fullmatch(key)
    return match.group(2) if match else key


def find_tag(tags: Iterable[str], tag: str) -> str | None:
    """The tag among ``tags`` that ``tag`` names, prefixed key or not.

    Args:
        tags: the tags a run holds.
        tag: a tag as it is (``"activations/012 backbone/block_1_expand"``), or with the bare
            layer path in place of the key (``"activations/backbone/block_1_expand"``).

    Returns:
        ``tag`` itself when it is in ``tags``; else the one tag ``<kind>/<position> <path>``
        there for that kind and path; None when there is none (or several).

    Example:
        ```python
        tags = ["activations/3 conv", "weights/3 conv"]
        find_tag(tags, "activations/conv")  # "activations/3 conv"
        ```
    """
    known = list(tags)
    if tag in known:
        return tag
    found = [candidate for candidate in known if _same_layer(candidate, tag)]
    return found[0] if len(found) == 1 else None


def _same_layer(candidate: str, tag: str) -> bool:
    kind, _, key = candidate.partition("/")
    return key != key_path(key) and layer_tag(kind, key_path(key)) == tag
