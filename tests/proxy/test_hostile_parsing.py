"""Hostile input to the proxy's body parsing (proxy/parsing.py), property-based.

Whatever JSON value or form fields arrive, parsing either gives feature values the gRPC
request can carry faithfully (float32 range, NaN passed on for the server to refuse), or
raises RequestError with status 400 and a message; nothing else escapes. Valid input is
passed on unchanged.
"""

import math

import hypothesis
from hypothesis import strategies as st
from multidict import MultiDict, MultiDictProxy

from common.names import FEATURE_NAMES
from proxy.errors import RequestError
from proxy.parsing import FLOAT32_MAX, batch_features, features_from_form, features_from_object

HOSTILE = hypothesis.settings(max_examples=150, derandomize=True, database=None, deadline=None)

numbers = st.integers() | st.floats() | st.integers(min_value=10**300, max_value=10**400)
scalars = st.none() | st.booleans() | numbers | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=15), inner),
    max_leaves=10,
)
# Objects and rows that look almost right: the feature names, or four values, of any kind.
feature_objects = st.dictionaries(
    st.sampled_from(FEATURE_NAMES) | st.text(max_size=15), json_values, max_size=6
)
row_arrays = st.lists(json_values, min_size=3, max_size=5)
rows = feature_objects | row_arrays | json_values
batch_bodies = (
    st.lists(rows, max_size=6)
    | st.fixed_dictionaries({"instances": st.lists(rows, max_size=6)})
    | json_values
)
float32_values = st.floats(min_value=-FLOAT32_MAX, max_value=FLOAT32_MAX, allow_nan=False, width=32)


def assert_wire_values(values: list[float]) -> None:
    """Values a gRPC float field carries as given: floats in float32 range, or NaN."""
    for value in values:
        assert isinstance(value, float)
        assert math.isnan(value) or abs(value) <= FLOAT32_MAX


def assert_client_error(error: RequestError) -> None:
    assert error.status == 400
    assert error.message.strip()


@HOSTILE
@hypothesis.given(batch_bodies)
def test_any_batch_body_parses_to_wire_values_or_a_400(body):
    try:
        values = batch_features(body)
    except RequestError as error:
        assert_client_error(error)
        return
    assert len(values) % len(FEATURE_NAMES) == 0
    assert_wire_values(values)


@HOSTILE
@hypothesis.given(feature_objects | json_values)
def test_any_object_parses_to_four_features_or_a_400(body):
    try:
        features = features_from_object(body)
    except RequestError as error:
        assert_client_error(error)
        return
    assert list(features) == list(FEATURE_NAMES)
    assert_wire_values(list(features.values()))


form_keys = st.sampled_from(FEATURE_NAMES) | st.text(max_size=15)
form_values = (
    st.text(max_size=30) | numbers.map(str) | st.sampled_from(["nan", "-inf", "1e39", "1_0", " 5 ", "٣"])
)


@HOSTILE
@hypothesis.given(st.lists(st.tuples(form_keys, form_values), max_size=10))
def test_any_form_parses_to_four_features_or_a_400(fields):
    try:
        features = features_from_form(MultiDictProxy(MultiDict(fields)))
    except RequestError as error:
        assert_client_error(error)
        return
    assert list(features) == list(FEATURE_NAMES)
    assert_wire_values(list(features.values()))


@HOSTILE
@hypothesis.given(st.lists(st.lists(float32_values, min_size=4, max_size=4), max_size=8), st.booleans())
def test_valid_rows_pass_unchanged_in_order(values, as_objects):
    body = [dict(zip(FEATURE_NAMES, row, strict=True)) for row in values] if as_objects else values
    assert batch_features({"instances": body}) == [value for row in values for value in row]
