"""Out-of-band codes: the SMS and e-mail codes of the seeds, as pure transitions.

A code is random digits from :mod:`softtoken._random`, valid from the moment it is issued for its
stated life (Produbanco's 5 minutes), not aligned to any time step. Only the newest code of a
user and purpose is valid: issuing one replaces the record. It is single use, with a small
attempt budget, and the issuer keeps only its keyed hash::

    digest = HMAC-SHA256(code_key(key_id), Label.ISSUER_CODE_HASH || JSON([user, purpose,
                         issued_at]) || code)

so that a copy of the database does not give the codes, and a hash made for one user, purpose
or moment matches no other. The service returns the code to the caller, who sends it; softtoken
sends nothing.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from typing import Final

import attrs

from softtoken import _random
from softtoken._checks import check_int
from softtoken._kdf import Label
from softtoken.issuer.keyring import Keyring
from softtoken.issuer.records import CodeRecord, check_name

__all__ = ["DEFAULT_CODE_TTL", "MAX_CODE_TTL", "CodeCause", "check", "issue"]

DEFAULT_CODE_TTL: Final = 300
"""Five minutes, as in the seeds."""
MAX_CODE_TTL: Final = 86_400
"""An out-of-band code lives at most a day."""


class CodeCause(enum.Enum):
    """What a check of an out-of-band code found; the audit trail's ``outcome``."""

    ACCEPTED = "accepted"
    WRONG_CODE = "wrong_code"
    SPENT_NOW = "spent_now"
    SPENT = "spent"
    USED = "used"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    """Checked at a time before the code was issued (a server clock behind another's):
    refused, and neither counted nor erased."""


def _digest(keyring: Keyring, key_id: str, record: CodeRecord, code: str) -> bytes:
    context = json.dumps([record.user, record.purpose, record.issued_at], separators=(",", ":"))
    message = Label.ISSUER_CODE_HASH + context.encode("utf-8") + code.encode("ascii")
    return hmac.digest(keyring.code_key(key_id), message, hashlib.sha256)


def issue(
    keyring: Keyring,
    previous: CodeRecord | None,
    *,
    user: str,
    purpose: str,
    now: int,
    ttl: int,
    digits: int,
    attempts: int,
) -> tuple[str, CodeRecord]:
    """A fresh code for *user* and *purpose*, and the record that replaces *previous*.

    Raises:
        TypeError, InvalidInput: *ttl* is not 1 to :data:`MAX_CODE_TTL`, *digits* not 4 to 10,
            *attempts* not 1 to 10, or a name is not acceptable. Nothing is drawn then.
    """
    check_name(user, "user")
    check_name(purpose, "purpose")
    check_int(ttl, "ttl", 1, MAX_CODE_TTL)
    check_int(digits, "digits", 4, 10)
    check_int(attempts, "attempts", 1, 10)
    base = previous or CodeRecord(user=user, purpose=purpose)
    record = attrs.evolve(
        base,
        version=base.version + 1,
        key_id=keyring.current,
        digest=None,
        digits=digits,
        issued_at=now,
        expires_at=now + ttl,
        failures=0,
        max_attempts=attempts,
        used=False,
    )
    code = _random.random_digits(digits)
    return code, attrs.evolve(record, digest=_digest(keyring, record.key_id, record, code))


def check(
    keyring: Keyring, record: CodeRecord, code: str, now: int
) -> tuple[CodeCause, CodeRecord]:
    """Check *code* (ASCII digits) against the newest code of its user and purpose.

    Returns:
        The cause and the record to store by compare-and-set (always one version later: every
        check is audited). ACCEPTED erases the digest; so do SPENT_NOW (the last attempt was
        wrong) and the first EXPIRED.
    """
    bumped = attrs.evolve(record, version=record.version + 1)
    if record.used:
        return CodeCause.USED, bumped
    if record.digest is None:
        return CodeCause.SPENT, bumped
    if now < record.issued_at:
        return CodeCause.NOT_YET_VALID, bumped
    if now >= record.expires_at:
        return CodeCause.EXPIRED, attrs.evolve(bumped, digest=None)
    expected = _digest(keyring, record.key_id, record, code)
    if hmac.compare_digest(expected, record.digest) and len(code) == record.digits:
        return CodeCause.ACCEPTED, attrs.evolve(bumped, digest=None, used=True)
    failures = record.failures + 1
    if failures >= record.max_attempts:
        return CodeCause.SPENT_NOW, attrs.evolve(bumped, digest=None, failures=failures)
    return CodeCause.WRONG_CODE, attrs.evolve(bumped, failures=failures)
