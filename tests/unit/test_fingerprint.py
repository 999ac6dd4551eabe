from hypothesis import given
from hypothesis import strategies as st

from bot.ingest import fingerprint


def test_prometheus_common_vector() -> None:
    # prometheus/common model/signature_test.go
    labels = {"name": "garland, briggs", "fear": "love is not enough"}
    assert fingerprint(labels) == "507a62d79ee76c9a"


def test_empty_label_set_is_the_fnv_offset() -> None:
    assert fingerprint({}) == "cbf29ce484222325"


def test_separator_prevents_ambiguous_concatenation() -> None:
    assert fingerprint({"a": "bc"}) != fingerprint({"ab": "c"})


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=6))
def test_order_of_labels_does_not_matter(labels: dict[str, str]) -> None:
    reordered = dict(reversed(list(labels.items())))
    result = fingerprint(labels)
    assert result == fingerprint(reordered)
    assert len(result) == 16
    assert int(result, 16) >= 0
