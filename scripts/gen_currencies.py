"""Regenerate src/tallybook/domain/currencies.json from CLDR data shipped with babel.

The domain layer imports only the standard library, so the minor units it rounds to
are read from this generated file. tests/unit/test_money.py fails when the file and
babel disagree; run `python scripts/gen_currencies.py` after upgrading babel.
"""

from __future__ import annotations

import json
from pathlib import Path

from babel.numbers import get_currency_precision, list_currencies

TARGET = Path(__file__).resolve().parents[1] / "src" / "tallybook" / "domain" / "currencies.json"


def build() -> dict[str, int]:
    return {code: get_currency_precision(code) for code in sorted(list_currencies())}


if __name__ == "__main__":
    TARGET.write_text(json.dumps(build(), indent=0, sort_keys=True) + "\n")
    print(f"wrote {TARGET}")
