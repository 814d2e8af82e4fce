"""Field rules of the data dictionary: the only place that knows lengths,
formats and lists of values on the client side.

Every request is checked here before it is built, so a bad value is refused
with the field's name and the rule, and nothing goes on the wire.  The bundled
XSD carries the same rules for the simulator; a test keeps the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from .errors import InvalidFieldError
from .redact import card_number_runs
from .seal import SEAL_ALGORITHMS

__all__ = [
    "CAPTURE_MODES",
    "CLEAR_PAN_TYPES",
    "FIELD_RULES",
    "ORDER_CHANNELS",
    "PAN_TYPES",
    "PAYMENT_MEAN_BRANDS",
    "PAYMENT_PATTERNS",
    "FieldRule",
    "check_amount",
    "check_card_number",
    "check_field",
    "holds_card_number",
    "snake_case",
]

PAN_TYPES: Final = ("CSE", "PAN", "STKPAN", "TOKEN_PAN", "VCO_PAN")
ORDER_CHANNELS: Final = ("INTERNET", "IVR", "MAIL_ORDER", "MOTO", "TELEPHONE_ORDER")
CAPTURE_MODES: Final = ("AUTHOR_CAPTURE", "IMMEDIATE", "VALIDATION")
PAYMENT_PATTERNS: Final = ("INSTALMENT", "ONE_SHOT", "RECURRING_1", "RECURRING_N")
CLEAR_PAN_TYPES: Final = frozenset({"PAN"})

PAYMENT_MEAN_BRANDS: Final = (
    "1EUROCOM", "3XCBCOFINOGA", "ACCEPTGIRO", "AIRPLUS", "AIRPLUS_LOGEE", "AMEX",
    "AMEX_LOGEE", "AURORE", "BCACB_3X", "BCACB_4X", "BCACUP", "BCMC", "CACF_3X",
    "CACF_3XSANSFRAIS", "CACF_4X", "CACF_4XSANSFRAIS", "CADHOC", "CADOCARTE", "CB",
    "CETELEM_3X", "CETELEM_4X", "COFIDIS_3X", "COFIDIS_4X", "CONECS", "CUP", "CVA",
    "CVCO", "DINERS", "FRANFINANCE_3X", "FRANFINANCE_4X", "GIROPAY", "ILLICADO",
    "INCASSO", "INGHOMEPAY", "JCB", "LEPOTCOMMUN", "LYDIA", "MAESTRO", "MASTERCARD",
    "MASTERPASS", "ONEY34X", "PAYLIB", "PAYPAL", "PAYTRAIL", "PAY_BY_BANK",
    "SEPA_DIRECT_DEBIT", "SOFINCO", "UNKNOWN", "VISA", "VISACHECKOUT",
    "VISA_ELECTRON", "VPAY",
)  # fmt: skip
# "UNKNOWN can be returned by Sogenactif but must not be used in a request."
_REQUEST_BRANDS: Final = tuple(b for b in PAYMENT_MEAN_BRANDS if b != "UNKNOWN")

# Characters XML 1.0 cannot carry; lxml would refuse them deep inside zeep.
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Digits, with single spaces or dashes between them: how people write card numbers.


@dataclass(frozen=True)
class FieldRule:
    """What the data dictionary allows in one request field.

    ``secret`` fields are never echoed back in an error message.
    """

    name: str
    max_length: int
    min_length: int = 0
    pattern: str | None = None
    pattern_text: str = ""
    choices: tuple[str, ...] = ()
    secret: bool = False


def _rules(*rules: FieldRule) -> Mapping[str, FieldRule]:  # pragma: no mutate block
    return {rule.name: rule for rule in rules}


FIELD_RULES: Final[Mapping[str, FieldRule]] = _rules(
    FieldRule("merchantId", 15, 15, r"[0-9]{15}", "must be 15 digits"),
    FieldRule(
        "interfaceVersion",
        20,
        1,
        r"(WR|IR|CR|DR)_WS_[0-9]+\.[0-9]+",
        "must look like WR_WS_2.55 (IR_WS_, CR_WS_ or DR_WS_ for the payment services)",
    ),
    FieldRule("keyVersion", 10, 1, r"[1-9][0-9]{0,9}", "must be a whole number from 1"),
    FieldRule("sealAlgorithm", 12, choices=tuple(sorted(SEAL_ALGORITHMS))),
    FieldRule("intermediateServiceProviderId", 20),
    FieldRule("merchantWalletId", 21, 1),
    FieldRule(
        "cardExpiryDate",
        6,
        pattern=r"([0-9]{4}(0[1-9]|1[0-2]))?",
        pattern_text="must be YYYYMM with a month from 01 to 12 "
        "(or empty for a card without expiry)",
    ),
    FieldRule("panType", 9, choices=PAN_TYPES),
    FieldRule("paymentMeanAlias", 20),
    FieldRule("paymentMeanBrand", 17, choices=_REQUEST_BRANDS),
    FieldRule(
        "paymentMeanBrandSelectionStatus",
        15,
        choices=("", "APPLIED_DEFAULT", "APPLIED_HOLDER", "NOT_APPLICABLE"),
    ),
    FieldRule("paymentToken", 255, secret=True),
    FieldRule("paymentMeanId", 6, 1, r"[0-9]{1,6}", "must be 1 to 6 digits"),
    # ---- the payment services (checkout, cash management, diagnostic)
    FieldRule(
        "currencyCode", 3, 3, r"[0-9]{3}", "must be the 3-digit ISO 4217 code (978 for euros)"
    ),
    FieldRule(
        "transactionReference",
        35,
        1,
        r"[A-Za-z0-9]{1,35}",
        "must be 1 to 35 letters or digits, unique per merchant",
    ),
    FieldRule("orderChannel", 20, choices=ORDER_CHANNELS),
    FieldRule("captureDay", 2, 1, r"[0-9]{1,2}", "must be a number of days from 0 to 99"),
    FieldRule("captureMode", 20, choices=CAPTURE_MODES),
    FieldRule("paymentPattern", 20, choices=PAYMENT_PATTERNS),
    FieldRule("initialSchemeTransactionIdentifier", 56, 1),
    FieldRule("orderId", 32),
    FieldRule("customerId", 19),
    FieldRule("transactionOrigin", 20),
    FieldRule("operationOrigin", 20),
)
# Free text a merchant fills from its own data: refused when it holds a card number.
_NO_CARD_DATA: Final = frozenset(
    {"merchantWalletId", "orderId", "customerId", "transactionReference"}
)
MAX_AMOUNT: Final = 999_999_999_999  # N12

_COMPILED: Final = {
    name: re.compile(rule.pattern) for name, rule in FIELD_RULES.items() if rule.pattern
}


@lru_cache(maxsize=64)
def snake_case(field: str) -> str:
    """The Python parameter name of a vendor field (``cardExpiryDate`` -> ``card_expiry_date``)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", field).lower()


def _not_a_choice(text: str, choices: tuple[str, ...], shown: str) -> str:
    """A refusal that leads to the fix: the likely value, not a wall of names."""
    import difflib

    close = [c for c in choices if c.upper() == text.upper()] or difflib.get_close_matches(
        text.upper(), [c.upper() for c in choices], n=1, cutoff=0.75
    )
    guess = next((c for c in choices if close and c.upper() == close[0].upper()), None)
    if len(choices) <= 8:
        listed = f"must be one of {', '.join(c or repr(c) for c in choices)}{shown}"
    else:
        listed = f"is not one of the {len(choices)} names this field takes{shown}"
    return f"{listed}; did you mean {guess}?" if guess else listed


def check_field(field: str, value: object, parameter: str | None = None) -> str:
    """Return ``value`` as the text to send, or raise ``InvalidFieldError``."""
    rule = FIELD_RULES[field]
    param = parameter or snake_case(field)

    def fail(text: str) -> InvalidFieldError:
        return InvalidFieldError(field, param, text)

    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise fail(f"must be text, not {type(value).__name__}")
    text = str(value)
    shown = "" if rule.secret else f" (got {text!r})"
    if _NOT_XML.search(text):
        raise fail("contains a control character that XML cannot carry")
    if rule.choices:
        if text not in rule.choices:
            raise fail(_not_a_choice(text, rule.choices, shown))
        return text
    pattern = _COMPILED.get(field)
    if pattern is not None and not pattern.fullmatch(text):  # the format first, then lengths
        raise fail(f"{rule.pattern_text}{shown if len(text) <= 64 else ''}")
    if len(text) > rule.max_length:
        raise fail(f"must be at most {rule.max_length} characters (got {len(text)})")
    if len(text) < rule.min_length:  # a longer minimum always comes with a pattern
        raise fail("must not be empty")
    if field == "paymentMeanAlias" and holds_card_number(text, strict=True):
        raise fail("looks like it holds a card number; the alias must carry no cardholder data")
    if field in _NO_CARD_DATA and holds_card_number(text, strict=False):
        what = "a wallet id" if field == "merchantWalletId" else "it"
        raise fail(
            f"looks like it holds a card number (digits passing the Luhn check); {what} "
            "must carry no cardholder data"
        )
    return text


def check_amount(value: object, field: str = "amount", parameter: str | None = None) -> int:
    """An amount in the currency's smallest unit (cents for euros): a whole ``int``
    from 1 to 12 digits.  A float, a ``Decimal`` or text is refused, never rounded:
    ``10.5`` may mean euros or cents, and a payment SDK must not guess."""
    param = parameter or snake_case(field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidFieldError(
            field,
            param,
            f"must be a whole number of the currency's smallest unit (1050 for 10.50 EUR), "
            f"not {type(value).__name__}",
        )
    if value < 1:
        raise InvalidFieldError(field, param, f"must be 1 or more (got {value})")
    if value > MAX_AMOUNT:  # said in digits: twelve of them would be masked as a card
        raise InvalidFieldError(field, param, f"must be at most 12 digits (got {len(str(value))})")
    return value


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def holds_card_number(text: str, *, strict: bool) -> bool:
    """Whether ``text`` holds a card number, in any spacing (``4100 0000-0000 0000``).

    ``strict`` (aliases: free text that never needs a long number): any 12 to
    19 digits in a row, with the separators ``redact`` knows (space, dot, dash,
    underscore, slash) between them.  Otherwise
    (wallet ids, which may be long customer numbers): such digits only when
    they also pass the Luhn check every real card number passes.
    """
    for digits in card_number_runs(text):
        if len(digits) >= 12 and (strict or (len(digits) <= 19 and _luhn(digits))):
            return True
    return False


def check_card_number(
    card_number: object, pan_type: str | None, parameter: str = "card_number"
) -> str:
    """Check a card number against the format its ``panType`` implies.

    A clear PAN (no panType, or ``PAN``) is N19: 12 to 19 digits; spaces and
    dashes people type between groups are removed.  Any other panType carries
    an opaque token or CSE blob of at most 128 characters (ANS128).  The value
    itself never appears in an error.  The Luhn check is deliberately not
    applied: the vendor's own test cards (4100000000000000) fail it.
    """
    param = parameter
    if not isinstance(card_number, str):
        raise InvalidFieldError("cardNumber", param, "must be text")
    if pan_type is None or pan_type in CLEAR_PAN_TYPES:
        digits = re.sub(r"[ -]", "", card_number)
        if not digits.isascii() or not digits.isdigit():
            raise InvalidFieldError(
                "cardNumber", param, "a clear card number must contain digits only"
            )
        if not 12 <= len(digits) <= 19:
            raise InvalidFieldError(
                "cardNumber",
                param,
                f"a clear card number must be 12 to 19 digits (got {len(digits)})",
            )
        return digits
    if not card_number:
        raise InvalidFieldError("cardNumber", param, "must not be empty")
    if len(card_number) > 128:
        raise InvalidFieldError(
            "cardNumber",
            param,
            f"a {pan_type} value must be at most 128 characters (got {len(card_number)})",
        )
    if _NOT_XML.search(card_number):
        raise InvalidFieldError(
            "cardNumber", param, "contains a control character that XML cannot carry"
        )
    return card_number
