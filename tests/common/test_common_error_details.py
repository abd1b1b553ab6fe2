"""The BadRequest convention both services share: the server's writer and the proxy's reader agree."""

import grpc
import pytest

from common.error_details import field_path, field_violations, invalid_argument, row_of


@pytest.mark.parametrize(
    ("row", "field", "path", "read_row"),
    [
        (3, "petal_width", "rows[3].petal_width", 3),
        (12, None, "rows[12]", 12),
        (None, "petal_width", "petal_width", None),
        (None, "inputs[0].shape", "inputs[0].shape", None),
        (None, None, "", None),
    ],
)
def test_a_path_names_the_row_and_field_and_gives_the_row_back(row, field, path, read_row):
    assert field_path(row, field) == path
    assert row_of(path) == read_row


@pytest.mark.parametrize("path", ["rows[1]x", "rows[-1]", "myrows[1]", "rows[]", "outputs[1].name"])
def test_a_path_that_is_not_a_row_gives_no_row(path):
    assert row_of(path) is None


def failed_call(status: grpc.Status, message: str | None = None) -> grpc.aio.AioRpcError:
    """The error a grpc.aio client raises for a call the server ended with abort_with_status(status)."""
    trailing = grpc.aio.Metadata(*status.trailing_metadata)
    return grpc.aio.AioRpcError(status.code, grpc.aio.Metadata(), trailing, message or status.details)


def test_what_the_server_writes_the_proxy_reads():
    status = invalid_argument("row 3: petal_width is NaN", "rows[3].petal_width", "petal_width is NaN")
    assert (status.code, status.details) == (grpc.StatusCode.INVALID_ARGUMENT, "row 3: petal_width is NaN")
    [violation] = field_violations(failed_call(status))
    assert (violation.field, violation.description) == ("rows[3].petal_width", "petal_width is NaN")


def test_a_call_without_a_status_or_with_a_contradicting_one_has_no_violations():
    plain = grpc.aio.AioRpcError(
        grpc.StatusCode.INVALID_ARGUMENT, grpc.aio.Metadata(), grpc.aio.Metadata(), "x"
    )
    assert field_violations(plain) == []
    status = invalid_argument("row 3: petal_width is NaN", "rows[3].petal_width", "petal_width is NaN")
    assert field_violations(failed_call(status, message="another message")) == []
