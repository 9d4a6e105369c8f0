"""Out-of-band codes on the issuer: :meth:`send_code` and :meth:`check_code`.

A mixin of :class:`~softtoken.issuer.Issuer`, kept apart because it touches no token: the
transitions are :mod:`softtoken.issuer.codes`, the record is the user's newest code for a
purpose, and every issue and check is audited in that code's own chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from softtoken.exceptions import InvalidCode
from softtoken.issuer import codes
from softtoken.issuer.audit import Action
from softtoken.issuer.codes import DEFAULT_CODE_TTL, CodeCause
from softtoken.issuer.engine import LOG, CodeChange, Engine
from softtoken.issuer.records import CodeRecord, check_name

__all__ = ["OutOfBandCodes"]

_DECOY_KEY = bytes(32)


class OutOfBandCodes:
    """Send and check the SMS and e-mail codes of the seeds (ARCHITECTURE.md seed flow 7)."""

    _engine: Engine

    def send_code(
        self,
        *,
        user: str,
        purpose: str,
        ttl: int = DEFAULT_CODE_TTL,
        digits: int = 6,
        attempts: int = 3,
        at: int | dt.datetime | None = None,
    ) -> str:
        """A fresh code for *user* and *purpose*, valid *ttl* seconds from now (5 minutes by
        default), single use, with *attempts* tries; it replaces any earlier one. The issuer
        keeps only its keyed hash. Send it yourself: softtoken sends nothing.

        Raises:
            TypeError, InvalidInput: a name, *ttl* (1 s to a day), *digits* (4 to 10) or
                *attempts* (1 to 10) is not acceptable.
        """
        check_name(user, "user")
        check_name(purpose, "purpose")
        keyring = self._engine.keyring

        def plan(record: CodeRecord | None, now: int) -> tuple[str, CodeChange]:
            code, after = codes.issue(
                keyring,
                record,
                user=user,
                purpose=purpose,
                now=now,
                ttl=ttl,
                digits=digits,
                attempts=attempts,
            )
            return code, CodeChange(record, after, Action.SEND_CODE, "issued")

        return self._engine.apply_code(user, purpose, plan, at)

    def check_code(
        self, code: str, *, user: str, purpose: str, at: int | dt.datetime | None = None
    ) -> None:
        """Accept *code* if it is *user*'s newest code for *purpose*, unused, unexpired, within
        its attempts. Returns nothing: the safe path raises.

        Raises:
            InvalidCode: for every refusal (wrong, used, expired, spent, unknown, or any store,
                key or clock failure), with one message; the code's audit chain says which.
            TypeError: *code* is not a str.
        """
        if not isinstance(code, str):
            raise TypeError("a code must be str")
        accepted = False
        failed: str | None = None
        try:
            accepted = self._check(code, user, purpose, at)
        except Exception as error:
            # Fail closed on anything, as Issuer.verify does; only the error's type is logged.
            failed = type(error).__name__
        if failed is not None:
            LOG.error("code check failed closed: %s", failed)
        if not accepted:
            raise InvalidCode()

    def _check(self, code: str, user: str, purpose: str, at: int | dt.datetime | None) -> bool:
        check_name(user, "user")
        check_name(purpose, "purpose")
        if not (4 <= len(code) <= 10 and code.isascii() and code.isdigit()):
            return False
        keyring = self._engine.keyring

        def plan(record: CodeRecord | None, now: int) -> tuple[bool, CodeChange | None]:
            if record is None:
                # The same keyed hash and the same audit write as a real check, so that no code
                # is no faster.
                hmac.digest(_DECOY_KEY, code.encode("ascii"), hashlib.sha256)
                self._engine.record_unknown(now, Action.CHECK_CODE, "unknown_code")
                return False, None
            cause, after = codes.check(keyring, record, code, now)
            if cause is not CodeCause.ACCEPTED:
                LOG.info("out-of-band code refused: %s", cause.value)
            return cause is CodeCause.ACCEPTED, CodeChange(
                record, after, Action.CHECK_CODE, cause.value
            )

        return self._engine.apply_code(user, purpose, plan, at)
