"""What can leave the function in a message: text and numbers that db_writer can always store.

DynamoDB stores strings as UTF-8 and numbers as decimals of limited range, and db_writer reads a
message's numbers as Decimals from its JSON. Anything read from a file (EXIF, a colour profile's name,
a decoder's error message) goes through here first.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

TEXT_LIMIT = 128
# DynamoDB's number type: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html
DYNAMODB_NUMBER_MAX = Decimal("9.9999999999999999999999999999999999999E+125")
DYNAMODB_NUMBER_MIN = Decimal("1E-130")
DYNAMODB_NUMBER_DIGITS = 38
# Unpaired surrogates cannot be encoded as UTF-8 at all; noncharacters (U+FDD0-U+FDEF and the last two code
# points of every plane) are valid but reserved for a program's internal use, never for interchange.
_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(chr(plane << 16 | low) for plane in range(17) for low in (0xFFFE, 0xFFFF))
_UNSTORABLE = re.compile(f"[\ud800-\udfff{_NONCHARACTERS}\x00]")
_CONTROL = re.compile("[\x01-\x1f\x7f-\x9f]")


def safe_text(text: str, limit: int = TEXT_LIMIT) -> str:
    """`text` without what cannot be stored or shown: NULs, surrogates and noncharacters go, control
    characters (tab and newline included) become spaces; at most `limit` characters."""
    return _CONTROL.sub(" ", _UNSTORABLE.sub("", text)).strip()[:limit]


def fits_dynamodb(number: int | float) -> bool:
    """Whether `number`, written to JSON and read back as a Decimal (as db_writer reads it), is a DynamoDB number."""
    if isinstance(number, float) and not math.isfinite(number):
        return False
    try:
        value = Decimal(repr(number))
    except InvalidOperation:
        return False
    if value == 0:
        return True
    significant = "".join(map(str, value.as_tuple().digits)).strip("0")  # not normalize(): it rounds to 28 digits
    return DYNAMODB_NUMBER_MIN <= abs(value) <= DYNAMODB_NUMBER_MAX and len(significant) <= DYNAMODB_NUMBER_DIGITS
