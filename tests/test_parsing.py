"""Wire values to results, by hand: date-times, list layouts and their refusals,
list-valued fields, and a payment mean with nothing dropped."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from sogen_soap.errors import ResponseError
from sogen_soap.parsing import list_items, parse_datetime, payment_mean, strings, text_or_none

PARIS_WINTER = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-29T10:11:12+01:00", datetime(2026, 11, 29, 10, 11, 12, tzinfo=PARIS_WINTER)),
        (" 2026-11-29T09:11:12Z ", datetime(2026, 11, 29, 9, 11, 12, tzinfo=timezone.utc)),
        ("2026-11-29T09:11:12z", datetime(2026, 11, 29, 9, 11, 12, tzinfo=timezone.utc)),
        ("2026-11-29T09:11:12.5Z", datetime(2026, 11, 29, 9, 11, 12, 500000, tzinfo=timezone.utc)),
        ("2026-11-29T09:11:12.1234567+00:00",
         datetime(2026, 11, 29, 9, 11, 12, 123456, tzinfo=timezone.utc)),
    ],
)  # fmt: skip
def test_date_times_with_an_offset_keep_it(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected and parsed is not None and parsed.utcoffset() == expected.utcoffset()


def test_a_date_time_without_an_offset_is_paris_time_summer_and_winter() -> None:
    winter, summer = parse_datetime("2026-01-15T12:00:00"), parse_datetime("2026-07-15T12:00:00")
    assert winter is not None and winter.utcoffset() == timedelta(hours=1)
    assert summer is not None and summer.utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize("text", [None, "", "   ", 5, "yesterday", "2026-13-01T00:00:00"])
def test_what_is_not_a_date_time_is_none(text: object, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sogen_soap"):
        assert parse_datetime(text) is None
    unreadable = isinstance(text, str) and text.strip() != ""
    assert bool(caplog.records) is unreadable
    if unreadable:
        assert caplog.records[0].getMessage() == (
            f"unreadable date-time {text!r} in a response; left empty"
        )


def test_text_or_none() -> None:
    assert text_or_none("x") == "x"
    assert text_or_none("") is None and text_or_none(None) is None and text_or_none(3) is None


MEAN = {"paymentMeanId": "1", "maskedPan": "4100##########00"}


def _items(value: object) -> list[object]:
    return list(
        list_items(value, "walletPaymentMeanData", list_name="L", operation="getWalletData")
    )


def test_both_list_layouts_and_empty_lists_are_read() -> None:
    assert _items(None) == [] and _items("") == []
    assert _items({"walletPaymentMeanData": MEAN}) == [MEAN]
    assert _items({"walletPaymentMeanData": [MEAN, "", None, MEAN]}) == [MEAN, MEAN]
    assert _items([{"walletPaymentMeanData": MEAN}, {"walletPaymentMeanData": [MEAN]}]) == [
        MEAN,
        MEAN,
    ]
    assert _items([MEAN, "", None, {"paymentMeanAlias": "a"}]) == [MEAN, {"paymentMeanAlias": "a"}]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("text", "getWalletData: L holds text where a list was expected; not read"),
        ({"walletPaymentMeanData": "text"}, "getWalletData: L/walletPaymentMeanData holds text; not read"),
        ({"walletPaymentMeanData": MEAN, "count": "1", "b": "2"},
         "getWalletData: L holds b, count beside walletPaymentMeanData, a layout the client "
         "cannot read; not read"),
        ({"card": {"x": "1"}, "other": "2"},
         "getWalletData: L has a layout the client cannot read (it holds card, other); not read"),
    ],
)  # fmt: skip
def test_a_layout_the_client_cannot_read_is_refused_not_shown_empty(
    value: object, message: str
) -> None:
    with pytest.raises(ResponseError) as caught:
        _items(value)
    assert str(caught.value) == message


def test_list_valued_fields_in_any_layout() -> None:
    assert strings(None) == () and strings("") == () and strings(5) == ()
    assert strings("CB") == ("CB",)
    assert strings(["CB", "VISA"]) == ("CB", "VISA")
    assert strings({"brand": ["CB", {"x": "VISA"}]}) == ("CB", "VISA")
    assert strings(("a", ["b"])) == ("a", "b")


def test_a_payment_mean_keeps_every_field() -> None:
    mean = payment_mean(
        {
            "paymentMeanId": "7", "maskedPan": "4100##########00", "paymentMeanAlias": "a",
            "panExpiryDate": "203012", "paymentMeanBrand": "VISA",
            "paymentMeanBrandSelectionStatus": "APPLIED_HOLDER",
            "paymentMeanCoBadgingBrandList": {"paymentMeanBrand": ["CB", "VISA"]},
            "transactionActors": ["A", "B"], "mandateId": "m", "issuerWalletId": "iw",
            "issuerWalletType": "t", "pspData": {"k": ["v"]}, "empty": "",
        }
    )  # fmt: skip
    assert mean is not None
    assert (mean.payment_mean_id, mean.masked_pan, mean.payment_mean_alias) == (
        "7", "4100##########00", "a"
    )  # fmt: skip
    assert (mean.pan_expiry_date, mean.payment_mean_brand) == ("203012", "VISA")
    assert mean.payment_mean_brand_selection_status == "APPLIED_HOLDER"
    assert mean.co_badging_brands == ("CB", "VISA") and mean.transaction_actors == ("A", "B")
    assert (mean.mandate_id, mean.issuer_wallet_id, mean.issuer_wallet_type) == ("m", "iw", "t")
    assert dict(mean.extra) == {"pspData": {"k": ("v",)}, "empty": ""}
    assert payment_mean("text") is None and payment_mean(None) is None
