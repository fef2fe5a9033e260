"""The compact form gives back every text exactly: a template made from one result's texts, and another
result with the same skeletons keeping only the numbers that differ (``compact.diff``)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.store import compact

NUMBER = st.one_of(st.integers(-10**12, 10**12).map(str), st.floats(allow_nan=False, allow_infinity=False).map(repr))
PART = st.text(alphabet=" /%a,:\"{}[]GiB主机", max_size=6)  # no digits: what a skeleton holds between numbers


@st.composite
def two_texts(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """Five texts twice, with the same skeletons and (maybe) other numbers."""
    first, second = [], []
    for _ in compact.TEXTS:
        parts = draw(st.lists(PART, min_size=1, max_size=5))
        for out in (first, second):
            numbers = draw(st.lists(NUMBER, min_size=len(parts) - 1, max_size=len(parts) - 1))
            text = parts[0] + "".join(f"{n} {p}" for n, p in zip(numbers, parts[1:], strict=True))
            out.append(text)
    return first, second


@settings(max_examples=300, derandomize=True, deadline=None)
@given(two_texts())
def test_a_result_packed_against_another_ones_template_reads_back_exactly(texts):
    first, second = texts
    skeletons, defaults = compact.pack(first)
    again, numbers = compact.pack(second)
    if again != skeletons:  # a number's text ran into its neighbour ("1 2" vs "-1"): another template
        return
    template = compact.template_text(skeletons, defaults)
    for which, (a, b) in enumerate(zip(first, second, strict=True)):
        assert compact.unpack(template + "\n" + compact.diff(compact.defaults(template), defaults), which) == a
        assert compact.unpack(template + "\n" + compact.diff(compact.defaults(template), numbers), which) == b


LAYOUT_TEXT = st.text(alphabet="0123456789-+.eE x,:\"{}[]%/GiB主١٢", max_size=40)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(LAYOUT_TEXT, st.randoms(use_true_random=False))
def test_a_text_splits_as_the_number_pattern_splits_it_also_when_its_layout_is_known(text, rnd):
    """The split remembered by layout (digits as 0) is the pattern's split, for this text and for another of the
    same layout (its ASCII digits changed), however the caches stand."""
    def by_pattern(t: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        pieces = compact._NUMBER.split(t)
        return tuple(pieces[0::2]), tuple(pieces[1::2])

    other = "".join(rnd.choice("0123456789") if c in "0123456789" else c for c in text)
    compact._SPLITS.clear()
    compact._LAYOUTS.clear()
    assert compact.split(text) == by_pattern(text)
    assert compact.split(other) == by_pattern(other)  # by layout when the text is ASCII
    compact._SPLITS.clear()
    assert compact.split(text) == by_pattern(text)


def test_remembered_texts_pack_and_diff_as_the_plain_functions_do_against_each_stores_defaults():
    """``packed``/``packed_diff`` remember texts seen twice; a diff is only reused for the same defaults list (two
    stores can hold one template with other default numbers: each gets its own diff)."""
    texts = ("/ 37.1 % used", "used < 80 %", "{}", '[{"value":37.1}]', "")
    skeletons, numbers = compact.pack(list(texts))
    mine, theirs = ["37.1", "80", "37.1"], ["40.0", "80", "40.0"]
    for _ in range(3):  # first sight, second sight (remembered), then from memory
        assert compact.packed(texts) == (compact.template_key(skeletons), skeletons, numbers)
        assert compact.packed_diff(texts, mine, numbers) == compact.diff(mine, numbers) == ""
        assert compact.packed_diff(texts, theirs, numbers) == compact.diff(theirs, numbers) == "0:37.1 2:37.1"
