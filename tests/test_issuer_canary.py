"""The canary test (SECURITY.md S14, issue 8 section 4).

Tokens are issued with known canary seeds (imported, 20, 32 and 64 bytes) and by offline
activation (their secrets captured on the app's side). Then every operation of the issuer runs,
and everything it leaves behind is gathered: every log record of every logger at DEBUG, every
exception, the repr and str of every returned value and of the issuer, store and key rings,
every audit row with all its fields, and the bytes of the SQLite file and its WAL. None of it
may hold a canary, in raw, hex, base32 or base64 form. None of the text may hold an activation,
registration, out-of-band, reset or unlock code either (the database file is not scanned for
codes: its random bytes may hold any short run of digits).

The scanner is checked first: it must find a canary planted in a control string.
"""

from __future__ import annotations

import base64
import functools
import logging
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Final, TypeVar

import attrs
import pytest

from softtoken import HOTP, TOTP
from softtoken.exceptions import (
    InvalidCode,
    MistypedCode,
    TokenStateError,
    UnknownToken,
)
from softtoken.issuer import (
    BlockReason,
    Issuer,
    IssuerPolicy,
    ReleaseReason,
    TokenState,
    Window,
)
from softtoken.issuer.stores import SQLStore
from softtoken.provisioning import Serial, TokenParams, offline
from softtoken.unlock import new_reset_code
from tests.issuer_support import FAST_KDF, NOW, activate, keyring

_T = TypeVar("_T")

C20: Final = b"CANARY20" + bytes(range(0xE0, 0xEC))
C32: Final = b"CANARY32" + bytes(range(0xC0, 0xD8))
C64: Final = b"CANARY64" + bytes(range(0x80, 0xB8))
"""The imported canary seeds: an ASCII tag and a run of high bytes, found in no other data."""

OPERATIONS: Final = frozenset(
    {
        "create_tokens",
        "assign_pool",
        "assign",
        "import_token",
        "start_offline_activation",
        "complete_offline_activation",
        "confirm_activation",
        "verify",
        "resync",
        "reset_drift",
        "set_window",
        "block",
        "unblock",
        "release",
        "confirm_release",
        "delete",
        "unlock_code",
        "send_code",
        "check_code",
        "audit",
        "verify_audit",
        "code_audit",
        "verify_code_audit",
        "rotate_keys",
        "token",
        "tokens",
    }
)
"""Every public operation of Issuer; the scenario must run each at least once."""


def _binary_forms(secret: bytes) -> dict[str, bytes]:
    """The forms a secret could leak in: raw, hex, base32 and base64, whole or (hex) in part."""
    b32 = base64.b32encode(secret).rstrip(b"=")
    return {
        "raw": secret,
        "hex": secret.hex().encode(),
        "HEX": secret.hex().upper().encode(),
        "hex-head": secret[:10].hex().encode(),
        "hex-tail": secret[-10:].hex().encode(),
        "base32": b32,
        "base32-lower": b32.lower(),
        "base64": base64.b64encode(secret).rstrip(b"="),
        "base64url": base64.urlsafe_b64encode(secret).rstrip(b"="),
    }


def _text_forms(secret: bytes) -> dict[str, str]:
    forms = {name: form.decode("latin-1") for name, form in _binary_forms(secret).items()}
    forms["bytes-repr"] = repr(secret)[2:-1]
    return forms


def scan_bytes(canaries: dict[str, bytes], blob: bytes) -> list[str]:
    """Each canary form found in *blob*, as "canary:form"."""
    return [
        f"{name}:{form_name}"
        for name, secret in canaries.items()
        for form_name, form in _binary_forms(secret).items()
        if form in blob
    ]


def scan_text(canaries: dict[str, bytes], text: str) -> list[str]:
    """Each canary form found in *text*, as "canary:form"."""
    return [
        f"{name}:{form_name}"
        for name, secret in canaries.items()
        for form_name, form in _text_forms(secret).items()
        if form in text
    ]


def scan_codes(codes: dict[str, str], text: str) -> list[str]:
    """Each code found in *text* as a digit string of its own (not inside a longer number),
    or in its grouped display form."""
    found = []
    for name, code in codes.items():
        if code.isdigit():
            if re.search(rf"(?<![0-9]){re.escape(code)}(?![0-9])", text):
                found.append(name)
        elif code in text:
            found.append(name)
    return found


class _Capture(logging.Handler):
    """Keeps every record that reaches the root logger, formatted with its exception."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@attrs.define(repr=False)
class Harvest:
    """Everything the scenario left behind, and what to look for in it."""

    canaries: dict[str, bytes] = attrs.Factory(dict)
    codes: dict[str, str] = attrs.Factory(dict)
    reprs: list[str] = attrs.Factory(list)
    exceptions: list[str] = attrs.Factory(list)
    raised: list[str] = attrs.Factory(list)
    audit_rows: list[str] = attrs.Factory(list)
    logs: list[str] = attrs.Factory(list)
    files: dict[str, bytes] = attrs.Factory(dict)
    operations: set[str] = attrs.Factory(set)
    unexpected: list[str] = attrs.Factory(list)
    states: dict[str, TokenState] = attrs.Factory(dict)

    def __repr__(self) -> str:
        # Never the canaries or the codes, which a failing test would otherwise print.
        return f"Harvest(operations={len(self.operations)}, unexpected={self.unexpected!r})"

    def run(self, name: str, call: Callable[[], _T], *, secret_result: bool = False) -> _T:
        """Run one operation, keeping the repr and str of its result; *secret_result* marks a
        result that is itself a code to hand on (its repr is that code), which is not kept."""
        self.operations.add(name)
        result = call()
        if not secret_result:
            self.reprs += [repr(result), str(result)]
        return result

    def attempt(self, name: str, call: Callable[[], object]) -> None:
        """Run one operation that should succeed, but let the scenario go on if it raises:
        the error is kept and scanned, and listed in :attr:`unexpected`."""
        self.operations.add(name)
        try:
            self.reprs += [repr(call())]
        except Exception as error:
            self.unexpected.append(f"{name}: {type(error).__name__}")
            self._keep(error)

    def fails(self, name: str, call: Callable[[], object], expected: type[Exception]) -> None:
        """Run one operation that must raise *expected*; keep everything the error shows."""
        self.operations.add(name)
        with pytest.raises(expected) as caught:
            call()
        self.raised.append(type(caught.value).__name__)
        self._keep(caught.value)

    def _keep(self, error: BaseException) -> None:
        self.exceptions += [
            str(error),
            repr(error),
            repr(error.args),
            repr(vars(error)),
            "".join(traceback.format_exception(error)),
        ]


def _activate_offline(h: Harvest, issuer: Issuer, serial: Serial, user: str, at: int) -> TOTP:
    """Offline activation step by step, keeping its codes and the app's secret."""
    params = TokenParams()
    h.run("assign", lambda: issuer.assign(serial, user=user, actor="admin", at=at))
    started = h.run(
        "start_offline_activation",
        lambda: issuer.start_offline_activation(
            serial, actor="admin", params=params, kdf=FAST_KDF, at=at
        ),
    )
    activation = started.activation_code
    registration, secret = offline.respond(serial, activation, params=params, kdf=FAST_KDF)
    h.codes[f"activation:{serial}"] = str(activation)
    h.codes[f"activation-display:{serial}"] = activation.display
    h.codes[f"registration:{serial}"] = str(registration)
    h.codes[f"registration-display:{serial}"] = registration.display
    h.canaries[f"offline:{serial}"] = secret
    h.run(
        "complete_offline_activation",
        lambda: issuer.complete_offline_activation(serial, registration, at=at),
    )
    token = TOTP(secret)
    h.run(
        "confirm_activation", lambda: issuer.confirm_activation(serial, token.generate(at), at=at)
    )
    return token


def _wrong(*right: str) -> str:
    """A code of the same length as *right*'s that is none of them."""
    length = len(right[0])
    return next(code for code in (str(digit) * length for digit in range(10)) if code not in right)


def _scenario(h: Harvest, url: str) -> None:
    """Every operation of the issuer, over tokens whose secrets are canaries."""
    h.canaries.update(C20=C20, C32=C32, C64=C64)
    sql = SQLStore(url)
    ring = keyring("k1")
    policy = IssuerPolicy(confirm_release=True)
    issuer = Issuer(sql, ring, policy=policy)
    h.reprs += [repr(x) for x in (issuer, sql, ring, policy)] + [str(issuer), str(sql)]

    def at(step: int) -> int:
        return NOW + 30 * step

    # Stock, pools and imported canary seeds.
    pool = h.run(
        "create_tokens", lambda: issuer.create_tokens(3, pool="acme", actor="admin", at=at(0))
    )
    stock = h.run("create_tokens", lambda: issuer.create_tokens(2, actor="admin", at=at(0)))
    h.run("assign_pool", lambda: issuer.assign_pool(stock[0], "acme", actor="admin", at=at(0)))
    s20, s32, s64 = (
        Serial.from_number(number) for number in (900_000_020, 900_000_032, 900_000_064)
    )
    h.run(
        "import_token", lambda: issuer.import_token(s20, C20, user="u20", actor="admin", at=at(0))
    )
    h.run(
        "import_token",
        lambda: issuer.import_token(
            s32, C32, user="u32", kind="hotp", algorithm="sha256", digits=8, at=at(0)
        ),
    )
    h.run(
        "import_token",
        lambda: issuer.import_token(s64, C64, user="u64", algorithm="sha512", digits=8, at=at(0)),
    )
    t20, h32 = TOTP(C20), HOTP(C32, digits=8, algorithm="sha256")
    t64 = TOTP(C64, digits=8, algorithm="sha512")

    # Offline activations: one step by step, one through the helper, and a device change.
    _activate_offline(h, issuer, pool[0], "off1", at(1))
    second = h.run("activate", lambda: activate(issuer, pool[1], user="off2", at=at(1)))
    h.canaries[f"offline:{pool[1]}"] = second.key
    third = _activate_offline(h, issuer, stock[0], "off1", at(2))
    assert TokenState.BLOCKED is h.run("token", lambda: issuer.token(pool[0])).state

    # Verification: accepted, wrong, replayed, by user and by serial, TOTP and HOTP.
    good = t20.generate(at(3))
    h.run("verify", lambda: issuer.verify(good, user="u20", at=at(3)))
    h.fails("verify", lambda: issuer.verify(_wrong(good), user="u20", at=at(3)), InvalidCode)
    h.fails("verify", lambda: issuer.verify(good, user="u20", at=at(3)), InvalidCode)
    h.run("verify", lambda: issuer.verify(h32.generate(0), serial=s32, at=at(3)))
    h.run("verify", lambda: issuer.verify(third.generate(at(3)), user="off1", at=at(3)))
    h.fails("verify", lambda: issuer.verify(good, user="nobody", at=at(3)), InvalidCode)

    # Drift, resync and the window.
    h.run(
        "resync",
        lambda: issuer.resync(
            s20, t20.generate(at(12)), t20.generate(at(13)), actor="admin", at=at(10)
        ),
    )
    h.fails(
        "resync",
        lambda: issuer.resync(s20, "000000", "000000", actor="admin", at=at(20)),
        InvalidCode,
    )
    h.run("reset_drift", lambda: issuer.reset_drift(s20, actor="admin", at=at(20)))
    h.run(
        "set_window",
        lambda: issuer.set_window(s20, Window(past=2, future=2), actor="admin", at=at(20)),
    )

    # Block by hand, refuse, unblock; then the automatic block after five wrong codes.
    h.run(
        "block", lambda: issuer.block(s64, BlockReason.CUSTOMER_REQUEST, actor="admin", at=at(21))
    )
    h.fails(
        "verify", lambda: issuer.verify(t64.generate(at(21)), serial=s64, at=at(21)), InvalidCode
    )
    h.fails(
        "unblock",
        lambda: issuer.unblock(s20, actor="admin", note="n/a", at=at(21)),
        TokenStateError,
    )
    h.run("unblock", lambda: issuer.unblock(s64, actor="admin", note="customer called", at=at(22)))
    h.run("verify", lambda: issuer.verify(t64.generate(at(22)), serial=s64, at=at(22)))
    wrong32 = _wrong(*(h32.generate(counter) for counter in range(1, 6)))
    for _ in range(5):
        h.fails("verify", lambda: issuer.verify(wrong32, serial=s32, at=at(23)), InvalidCode)
    assert TokenState.BLOCKED is h.run("token", lambda: issuer.token(s32)).state

    # The PIN reset exchange: the app's reset code, the issuer's unlock code.
    reset = new_reset_code()
    mistyped = reset[:-1] + str((int(reset[-1]) + 1) % 10)
    h.codes.update(reset=reset, reset_display=f"{reset[:3]} {reset[3:6]} {reset[6:]}")
    h.codes["reset_mistyped"] = mistyped
    unlock = h.run(
        "unlock_code",
        lambda: issuer.unlock_code(s64, reset, actor="admin", at=at(24)),
        secret_result=True,
    )
    h.codes["unlock"] = unlock
    h.fails(
        "unlock_code",
        lambda: issuer.unlock_code(s64, mistyped, actor="admin", at=at(24)),
        MistypedCode,
    )

    # Out-of-band codes: accepted once, wrong, reused, expired.
    sms = h.run(
        "send_code",
        lambda: issuer.send_code(user="u20", purpose="login", at=at(25)),
        secret_result=True,
    )
    mail = h.run(
        "send_code",
        lambda: issuer.send_code(user="u20", purpose="registration", digits=8, at=at(25)),
        secret_result=True,
    )
    h.codes.update(sms=sms, mail=mail)
    h.fails(
        "check_code",
        lambda: issuer.check_code(_wrong(sms), user="u20", purpose="login", at=at(25)),
        InvalidCode,
    )
    h.run("check_code", lambda: issuer.check_code(sms, user="u20", purpose="login", at=at(25)))
    h.fails(
        "check_code",
        lambda: issuer.check_code(sms, user="u20", purpose="login", at=at(26)),
        InvalidCode,
    )
    h.fails(
        "check_code",
        lambda: issuer.check_code(mail, user="u20", purpose="registration", at=at(500)),
        InvalidCode,
    )

    # Releases (one waiting for its code under the policy, one at once) and a deletion.
    h.run(
        "release",
        lambda: issuer.release(s20, ReleaseReason.CUSTOMER_REQUEST, actor="admin", at=at(30)),
    )
    h.fails(
        "confirm_release",
        lambda: issuer.confirm_release(s20, _wrong(t20.generate(at(30))), at=at(30)),
        InvalidCode,
    )
    h.attempt(
        "confirm_release", lambda: issuer.confirm_release(s20, t20.generate(at(30)), at=at(30))
    )
    h.states["confirmed release"] = issuer.token(s20).state
    h.run(
        "release", lambda: issuer.release(s32, ReleaseReason.SEED_RELEASE, actor="admin", at=at(30))
    )
    h.run("delete", lambda: issuer.delete(pool[1], actor="admin", at=at(31)))
    h.fails("token", lambda: issuer.token(Serial.from_number(1)), UnknownToken)

    # Rotation to a second key, then the service goes on under it.
    rotated = Issuer(sql, keyring("k1", "k2"), policy=policy)
    h.reprs.append(repr(rotated))
    progress: list[tuple[int, int]] = []
    h.run(
        "rotate_keys",
        lambda: rotated.rotate_keys(
            actor="admin", batch_size=2, progress=lambda *done: progress.append(done), at=at(32)
        ),
    )
    h.reprs.append(repr(progress))
    h.run("verify", lambda: rotated.verify(t64.generate(at(33)), serial=s64, at=at(33)))

    # Reading: every token, every trail, every chain check.
    infos = h.run("tokens", rotated.tokens)
    for state in TokenState:
        h.run("tokens", functools.partial(rotated.tokens, state=state))
    h.run("tokens", lambda: rotated.tokens(pool="acme"))
    h.run("tokens", lambda: rotated.tokens(user="off1"))
    for info in infos:
        h.run("token", functools.partial(rotated.token, info.serial))
        events = h.run("audit", functools.partial(rotated.audit, info.serial))
        h.run("verify_audit", functools.partial(rotated.verify_audit, info.serial))
        h.audit_rows += [repr(attrs.asdict(event)) for event in events]
        h.audit_rows += [f"{event.mac.hex()} {event.mac!r}" for event in events]
    for purpose in ("login", "registration"):
        chain = {"user": "u20", "purpose": purpose}
        events = h.run("code_audit", functools.partial(rotated.code_audit, **chain))
        h.run("verify_code_audit", functools.partial(rotated.verify_code_audit, **chain))
        h.audit_rows += [repr(attrs.asdict(event)) for event in events]

    # The raw tables, read behind the store's back.
    with sql.engine.connect() as conn:
        for table in ("softtoken_audit", "softtoken_records", "softtoken_meta"):
            for row in conn.exec_driver_sql(f"SELECT * FROM {table}"):  # noqa: S608 - fixed names
                h.audit_rows.append(repr(dict(row._mapping)))
    path = Path(url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            h.files[f"open{suffix}"] = Path(f"{path}{suffix}").read_bytes()
    sql.close()
    h.files["closed"] = path.read_bytes()


@pytest.fixture(scope="module")
def harvest(tmp_path_factory: pytest.TempPathFactory) -> Harvest:
    """The scenario, run once, with every logger at DEBUG feeding one capturing handler."""
    url = f"sqlite:///{tmp_path_factory.mktemp('canary') / 'issuer.db'}"
    capture = _Capture()
    root = logging.getLogger()
    loggers = [root] + [
        item
        for item in logging.root.manager.loggerDict.values()
        if isinstance(item, logging.Logger)
    ]
    levels = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    root.addHandler(capture)
    h = Harvest()
    try:
        _scenario(h, url)
    finally:
        root.removeHandler(capture)
        for logger, level in levels:
            logger.setLevel(level)
    h.logs = [capture.format(record) for record in capture.records]
    h.logs += [repr(record.args) for record in capture.records]
    return h


class TestScanner:
    """The scanner finds what it looks for, so that finding nothing means something."""

    @pytest.mark.parametrize("secret", [C20, C32, C64], ids=["20", "32", "64"])
    def test_finds_every_form_planted_in_a_control_string(self, secret: bytes) -> None:
        """Each text form of a canary, planted in a control string, is found as that form."""
        canaries = {"canary": secret}
        assert [] == scan_text(canaries, "a control string with nothing in it")
        for name, form in _text_forms(secret).items():
            assert f"canary:{name}" in scan_text(canaries, f"log line: key={form} (planted)")

    @pytest.mark.parametrize("secret", [C20, C32, C64], ids=["20", "32", "64"])
    def test_finds_every_form_planted_in_control_bytes(self, secret: bytes) -> None:
        """Each binary form of a canary, planted amid other bytes, is found as that form."""
        canaries = {"canary": secret}
        filler = bytes(range(256)) * 4
        assert [] == scan_bytes(canaries, filler)
        for name, form in _binary_forms(secret).items():
            assert f"canary:{name}" in scan_bytes(canaries, filler + form + filler)

    def test_finds_a_code_standing_alone_but_not_inside_a_number(self) -> None:
        """A code is found as a digit string of its own or in its grouped form, and not as
        part of a longer number (a timestamp or a serial)."""
        codes = {"reset": "769764879", "display": "769 764 879"}
        assert ["reset"] == scan_codes(codes, "reset code=769764879.")
        assert ["display"] == scan_codes(codes, "read 769 764 879 out")
        assert [] == scan_codes(codes, "at 17697648790 and 1769764879")


class TestScenario:
    """The scenario itself went as the issuer promises."""

    def test_every_operation_that_should_succeed_did(self, harvest: Harvest) -> None:
        """No operation meant to succeed raised."""
        assert [] == harvest.unexpected

    def test_a_valid_code_confirms_a_pending_release(self, harvest: Harvest) -> None:
        """Under the confirm_release policy, the token's own code completes the release."""
        assert TokenState.AVAILABLE is harvest.states["confirmed release"]


class TestNoCanaryLeaks:
    """After every operation, no canary is anywhere the issuer wrote or showed."""

    def test_the_scenario_ran_every_operation(self, harvest: Harvest) -> None:
        """Every public operation ran, with canaries, codes, errors and logs to scan."""
        assert OPERATIONS <= harvest.operations
        assert 3 + 3 == len(harvest.canaries)
        assert {"InvalidCode", "MistypedCode", "TokenStateError", "UnknownToken"} == set(
            harvest.raised
        )
        assert any("code refused" in line for line in harvest.logs)
        assert any("softtoken_records" in line for line in harvest.logs)
        assert harvest.audit_rows
        assert {"open", "open-wal", "closed"} <= set(harvest.files)

    @pytest.mark.parametrize("channel", ["logs", "exceptions", "reprs", "audit_rows"])
    def test_no_canary_in_text(self, harvest: Harvest, channel: str) -> None:
        """No log record, exception, repr or audit row holds a canary in any form."""
        texts: list[str] = getattr(harvest, channel)
        assert texts
        assert [] == [hit for text in texts for hit in scan_text(harvest.canaries, text)]

    def test_no_canary_in_the_database_files(self, harvest: Harvest) -> None:
        """The SQLite file and its WAL, open and after closing, hold no canary in any form."""
        found = {name: scan_bytes(harvest.canaries, blob) for name, blob in harvest.files.items()}
        assert {name: [] for name in harvest.files} == found

    @pytest.mark.parametrize("channel", ["logs", "exceptions", "reprs", "audit_rows"])
    def test_no_code_in_text(self, harvest: Harvest, channel: str) -> None:
        """No activation, registration, out-of-band, reset or unlock code appears in the text
        the issuer produced."""
        texts: list[str] = getattr(harvest, channel)
        assert 12 <= len(harvest.codes)
        assert [] == [hit for text in texts for hit in scan_codes(harvest.codes, text)]
