"""Measure issuer verifications per second on a SQLite file, against django-otp in the same run.

Run with ``make bench`` (which installs the ``bench`` extra: Django and django-otp). Prints
verifications per second for a valid and for a wrong code, on a SQLite *file* in a fresh
temporary folder, for:

- softtoken's :class:`~softtoken.issuer.Issuer`, by user (the login path: find the user's active
  token, read it, then one ``BEGIN IMMEDIATE`` transaction with the compare-and-set ``UPDATE``
  and the audit ``INSERT``) and by serial (the same without the search by user);
- django-otp's ``TOTPDevice.verify_token`` on a device already in memory (one ``UPDATE``,
  autocommit), the anchor the issue asks for, and django-otp's own form path (in
  ``transaction.atomic()``, ``Device.from_persistent_id(..., for_verify=True)`` then
  ``verify_token``), which reads the device first as the issuer does.

Django is configured in this script and is a benchmark dependency only. Both sides run with
``synchronous=FULL``; the issuer always uses WAL, so django-otp runs on a WAL database (the
comparison) and once more on a database left at Django's default journal (DELETE). The script
prints both pragmas as read back from each connection.

Every figure is the best of several rounds, and the rounds interleave the cases, so that a busy
moment on a shared machine slows every side alike. The ratios compare numbers from the same run.
Nothing here is asserted in the unit tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from sqlalchemy import event

from softtoken import TOTP, InvalidCode
from softtoken.issuer import Issuer, IssuerPolicy, Keyring
from softtoken.issuer.stores import SQLStore
from softtoken.provisioning import Serial
from softtoken.throttle import MAX_FAILURES

PERIOD = 30
WAL = "default"
"""Django's database alias for the WAL file: the same journal as the issuer's."""
PLAIN = "plain"
"""Django's database alias for a file left at Django's default journal (DELETE)."""
RUN_SECONDS = 0.3
"""Each timed run aims at this long; the rounds repeat it."""
MAX_WRONG_RUN = MAX_FAILURES - 10
"""A wrong-code run stays under the issuer's failure limit (see :class:`IssuerCase`)."""

Body = Callable[[int], Callable[[], None]]
"""Prepares *n* calls outside the timer and returns the timed loop over them."""


# --------------------------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def filesystem(folder: Path) -> str:
    """The type of the file system that holds *folder* (fsync costs differ: tmpfs has none)."""
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts", encoding="ascii", errors="replace") as mounts:
            for line in mounts:
                parts = line.split()
                point = parts[1]
                inside = str(folder).startswith(point.rstrip("/") + "/")
                if inside and len(point) > len(best):
                    best, kind = point, parts[2]
    except OSError:
        pass
    return kind


def machine(folder: Path) -> list[str]:
    import sqlite3

    import cryptography
    import sqlalchemy

    return [
        f"machine: {platform.machine()}, {cpu_model()}, {os.cpu_count()} cores, "
        f"{platform.system()} {platform.release()}",
        f"python: {platform.python_implementation()} {platform.python_version()}; "
        f"cryptography {cryptography.__version__}; SQLAlchemy {sqlalchemy.__version__}; "
        f"Django {django.__version__}; django-otp {version('django-otp')}; "
        f"SQLite {sqlite3.sqlite_version}",
        f"database files: {folder} ({filesystem(folder)}); "
        f"load average {os.getloadavg()[0]:.2f} at the start",
    ]


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


@dataclass
class Case:
    """One measured call: its name, its best rate (calls per second) over the rounds, and its
    least CPU time per call (what is left of a call's wall time is mostly waiting for fsync)."""

    name: str
    body: Body
    cap: int = 1_000_000
    best: float = 0.0
    cpu: float = float("inf")
    calls: int = 0

    def calibrate(self) -> None:
        """Warm up and size a run to about RUN_SECONDS."""
        rate, _ = self.time(50)
        self.calls = max(50, min(self.cap, int(rate * RUN_SECONDS)))

    def time(self, n: int) -> tuple[float, float]:
        loop = self.body(n)
        cpu = time.process_time()
        start = time.perf_counter()
        loop()
        wall = time.perf_counter() - start
        return n / wall, (time.process_time() - cpu) / n

    def round(self) -> None:
        rate, cpu = self.time(self.calls)
        self.best = max(self.best, rate)
        self.cpu = min(self.cpu, cpu)


class Trace:
    """The statements SQLite itself runs on some connections (``set_trace_callback``), so that
    both sides are described the same way, with the BEGIN and COMMIT the drivers issue."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._connections: list[Any] = []

    def attach(self, dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.set_trace_callback(self._record)
        self._connections.append(dbapi_connection)

    def _record(self, statement: str) -> None:
        words = statement.upper().split()
        if words and words[0] != "PRAGMA":
            self.seen.append(" ".join(words[:2]) if words[1:2] == ["IMMEDIATE"] else words[0])

    def detach(self) -> str:
        """Stop tracing; the statements seen, in order."""
        for connection in self._connections:
            connection.set_trace_callback(None)
        return " ".join(self.seen)


# --------------------------------------------------------------------------------------------
# softtoken's issuer
# --------------------------------------------------------------------------------------------


class IssuerCase:
    """Two imported TOTP tokens in an issuer on a SQLite file: one takes valid codes, one wrong.

    Valid codes: each call presents the next step's code, computed beforehand by the app side's
    own TOTP, with ``at=`` one period later than the call before. Each code is really valid,
    never a replay, and nothing is rewound between calls; the issuer does all its work (search,
    floor, drift, failure count reset, seal, audit) exactly as at a login.

    Wrong codes: the policy's failure limit is 1000, the most a policy allows (the default, 5,
    blocks the token at the fifth wrong code, after which codes are refused unevaluated). A
    timed run presents at most 990 wrong codes, and one valid code, outside the timer, resets
    the count before each run, so that every timed call is a wrong code counted in full.
    """

    def __init__(self, folder: Path) -> None:
        self.store = SQLStore(f"sqlite:///{folder / 'issuer.db'}")
        policy = IssuerPolicy(max_failures=MAX_FAILURES)
        self.issuer = Issuer(self.store, Keyring({"k1": os.urandom(32)}), policy=policy)
        start = int(time.time())
        self.now = start - start % PERIOD
        self.tokens: dict[str, tuple[Serial, TOTP]] = {}
        for number, user in enumerate(("valid", "wrong"), start=1):
            key = os.urandom(20)
            serial = Serial.from_number(number)
            self.issuer.import_token(serial, key, user=user, at=self.now)
            self.tokens[user] = (serial, TOTP(key))
        self.valid_calls = 0
        self.wrong_calls = 0

    def pragmas(self) -> str:
        with self.store.engine.connect() as conn:
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            synchronous = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        return f"journal_mode={journal}, synchronous={synchronous}"

    def _next(self, user: str) -> tuple[int, str]:
        self.now += PERIOD
        return self.now, self.tokens[user][1].generate(self.now)

    def valid(self, by: str) -> Body:
        serial = self.tokens["valid"][0]
        target: dict[str, Any] = {"user": "valid"} if by == "user" else {"serial": serial}
        verify = self.issuer.verify

        def body(n: int) -> Callable[[], None]:
            calls = [self._next("valid") for _ in range(n)]
            self.valid_calls += n

            def loop() -> None:
                for at, code in calls:
                    verify(code, at=at, **target)

            return loop

        return body

    def wrong(self, by: str) -> Body:
        serial, app = self.tokens["wrong"]
        target: dict[str, Any] = {"user": "wrong"} if by == "user" else {"serial": serial}
        verify = self.issuer.verify

        def body(n: int) -> Callable[[], None]:
            at, code = self._next("wrong")
            verify(code, user="wrong", at=at)  # untimed: the failure count is 0 again
            bad = wrong_code(app.generate, at)
            self.wrong_calls += n

            def loop() -> None:
                for _ in range(n):
                    try:
                        verify(bad, at=at, **target)
                    except InvalidCode:
                        continue
                    raise AssertionError("a wrong code was accepted")

            return loop

        return body

    def statements(self, body: Body) -> str:
        """What SQLite runs for one call of *body*."""
        loop, trace = body(1), Trace()
        event.listen(self.store.engine, "checkout", trace.attach)
        try:
            loop()
        finally:
            event.remove(self.store.engine, "checkout", trace.attach)
        return trace.detach()

    def check(self) -> None:
        """Every timed call did its full work: no block, every failure and success audited.

        The issuer answers a store error with InvalidCode too (it fails closed), so a wrong-code
        figure is only trusted once the audit trail shows the failures were really written.
        """
        wrong = self.issuer.token(self.tokens["wrong"][0])
        assert wrong.block_reason is None, "the wrong-code token was blocked"
        outcomes = [item.outcome for item in self.issuer.audit(self.tokens["wrong"][0])]
        assert self.wrong_calls == outcomes.count("wrong_code"), "failures not all recorded"
        accepted = self.issuer.audit(self.tokens["valid"][0])
        assert self.valid_calls == sum(item.outcome == "accepted" for item in accepted)

    def close(self) -> None:
        self.store.close()


def wrong_code(generate: Callable[[int], str], at: int) -> str:
    """A 6-digit code that matches no step within ±2 of *at*."""
    near = {generate(at + offset * PERIOD) for offset in range(-2, 3)}
    guess = 0
    while f"{guess:06d}" in near:
        guess += 1
    return f"{guess:06d}"


# --------------------------------------------------------------------------------------------
# django-otp
# --------------------------------------------------------------------------------------------


def _wal_on_default(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite" and connection.alias == WAL:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")


def configure_django(folder: Path) -> None:
    """Django in this process only: two SQLite files, migrated. ``configure`` runs once."""
    settings.configure(
        DEBUG=False,  # DEBUG would keep every query in memory
        SECRET_KEY="bench-only-not-a-secret",
        USE_TZ=True,
        TIME_ZONE="UTC",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django_otp",
            "django_otp.plugins.otp_totp",
        ],
        DATABASES={
            WAL: {"ENGINE": "django.db.backends.sqlite3", "NAME": str(folder / "django-wal.db")},
            PLAIN: {"ENGINE": "django.db.backends.sqlite3", "NAME": str(folder / "django.db")},
        },
        # A throttle factor of 0 turns django-otp's throttling off, so that no wrong code is
        # refused unevaluated; each failure is still counted and saved (one UPDATE).
        OTP_TOTP_THROTTLE_FACTOR=0,
        OTP_TOTP_SYNC=True,  # django-otp's default, stated
    )
    from django.db.backends.signals import connection_created

    connection_created.connect(_wal_on_default)
    django.setup()
    from django.core.management import call_command

    for alias in (WAL, PLAIN):
        call_command("migrate", database=alias, verbosity=0, interactive=False)


class FakeClock:
    """django-otp's TOTPDevice reads ``time.time()`` from its module; this stands in for it, so
    that each valid call can present the next step's code, as on the issuer's side."""

    def __init__(self, start: int) -> None:
        self.now = float(start)
        self.module = types.SimpleNamespace(time=lambda: self.now)


class DjangoCase:
    """django-otp TOTP devices on the two database files, one per path and kind of code, each
    with its own step cursor (a device held in memory and one re-read by the form path must not
    overwrite each other's saved state).

    Valid codes: as for the issuer, each call presents the next step's code (computed before the
    timer) with the fake clock moved one period on, so the replay guard (``last_t``) is never
    rewound. Wrong codes: one code outside the window, with throttling off (above); django-otp
    then computes the whole window (``tolerance`` 1 either side) and saves the failure count.
    """

    SETUPS = ((WAL, "held"), (WAL, "form"), (PLAIN, "held"))

    def __init__(self, clock: FakeClock) -> None:
        from django.contrib.auth import get_user_model
        from django_otp.plugins.otp_totp.models import TOTPDevice

        self.clock = clock
        self.devices: dict[tuple[str, str, str], Any] = {}
        self.apps: dict[tuple[str, str, str], TOTP] = {}
        self.cursor: dict[tuple[str, str, str], int] = {}
        self.wrong_calls: dict[tuple[str, str, str], int] = {}
        for alias, path in self.SETUPS:
            for kind in ("valid", "wrong"):
                name = f"{path}-{kind}"
                user = get_user_model().objects.db_manager(alias).create_user(username=name)
                device = TOTPDevice.objects.db_manager(alias).create(
                    user=user, name=name, confirmed=True
                )
                key = (alias, path, kind)
                self.devices[key] = device
                self.apps[key] = TOTP(bytes(device.bin_key))
                self.cursor[key] = int(clock.now)
                self.wrong_calls[key] = 0

    @staticmethod
    def pragmas(alias: str) -> str:
        from django.db import connections

        with connections[alias].cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            journal = cursor.fetchone()[0]
            cursor.execute("PRAGMA synchronous")
            synchronous = cursor.fetchone()[0]
        return f"journal_mode={journal}, synchronous={synchronous}"

    def _next(self, key: tuple[str, str, str]) -> tuple[float, str]:
        self.cursor[key] += PERIOD
        at = self.cursor[key]
        return float(at), self.apps[key].generate(at)

    def _verify(self, key: tuple[str, str, str]) -> Callable[[str], bool]:
        """One verification: on the device in memory, or through django-otp's form path."""
        alias, path, _ = key
        device = self.devices[key]
        if path == "held":
            return device.verify_token  # type: ignore[no-any-return]
        from django.db import transaction
        from django_otp.models import Device

        persistent_id = device.persistent_id

        def form_path(code: str) -> bool:
            # As django_otp.forms.OTPAuthenticationFormMixin does: a transaction, the device
            # read with select_for_update (a no-op on SQLite), then verify_token.
            with transaction.atomic(using=alias):
                loaded = Device.from_persistent_id(persistent_id, for_verify=True)
                return bool(loaded.verify_token(code))

        return form_path

    def valid(self, alias: str, path: str) -> Body:
        key = (alias, path, "valid")
        verify = self._verify(key)
        clock = self.clock

        def body(n: int) -> Callable[[], None]:
            calls = [self._next(key) for _ in range(n)]

            def loop() -> None:
                for at, code in calls:
                    clock.now = at
                    if not verify(code):
                        raise AssertionError("a valid code was refused")

            return loop

        return body

    def wrong(self, alias: str, path: str) -> Body:
        key = (alias, path, "wrong")
        verify = self._verify(key)
        app = self.apps[key]
        clock = self.clock

        def body(n: int) -> Callable[[], None]:
            at = self.cursor[key] + PERIOD
            self.cursor[key] = at
            bad = wrong_code(app.generate, at)
            self.wrong_calls[key] += n

            def loop() -> None:
                clock.now = float(at)
                for _ in range(n):
                    if verify(bad):
                        raise AssertionError("a wrong code was accepted")

            return loop

        return body

    @staticmethod
    def statements(alias: str, body: Body) -> str:
        """What SQLite runs for one call of *body*."""
        from django.db import connections

        loop, trace = body(1), Trace()
        connections[alias].ensure_connection()
        trace.attach(connections[alias].connection)
        loop()
        return trace.detach()

    def check(self) -> None:
        """Every wrong call was counted and saved (the throttling is off, not the counting)."""
        for alias, path in self.SETUPS:
            key = (alias, path, "wrong")
            device = self.devices[key]
            device.refresh_from_db()
            assert self.wrong_calls[key] == device.throttling_failure_count, "failures lost"


# --------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per case")
    parser.add_argument("--dir", type=Path, default=None, help="where the database files go")
    args = parser.parse_args()
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="bench-issuer-", dir=args.dir) as name:
        folder = Path(name).resolve()
        print("\n".join(machine(folder)))
        configure_django(folder)
        issuer = IssuerCase(folder)
        import django_otp.plugins.otp_totp.models as totp_models

        clock = FakeClock(issuer.now)
        real_time = totp_models.time
        totp_models.time = clock.module
        try:
            otp = DjangoCase(clock)
            print(f"issuer SQLStore:          {issuer.pragmas()}, BEGIN IMMEDIATE")
            print(f"django-otp, WAL file:     {otp.pragmas(WAL)}, autocommit")
            print(f"django-otp, default file: {otp.pragmas(PLAIN)}, autocommit")
            cases = [
                Case("issuer verify(user=), valid code", issuer.valid("user")),
                Case("issuer verify(user=), wrong code", issuer.wrong("user"), MAX_WRONG_RUN),
                Case("issuer verify(serial=), valid code", issuer.valid("serial")),
                Case("issuer verify(serial=), wrong code", issuer.wrong("serial"), MAX_WRONG_RUN),
                Case("django-otp verify_token, valid code", otp.valid(WAL, "held")),
                Case("django-otp verify_token, wrong code", otp.wrong(WAL, "held")),
                Case("django-otp form path, valid code", otp.valid(WAL, "form")),
                Case("django-otp form path, wrong code", otp.wrong(WAL, "form")),
                Case("django-otp verify_token, DELETE, valid", otp.valid(PLAIN, "held")),
                Case("django-otp verify_token, DELETE, wrong", otp.wrong(PLAIN, "held")),
            ]
            for case in cases:
                case.calibrate()
            for _ in range(args.rounds):
                for case in cases:
                    case.round()
            described = [
                ("issuer verify(user=)", issuer.statements(issuer.valid("user"))),
                ("issuer verify(serial=)", issuer.statements(issuer.valid("serial"))),
                ("issuer, a wrong code", issuer.statements(issuer.wrong("user"))),
                ("django-otp verify_token", otp.statements(WAL, otp.valid(WAL, "held"))),
                ("django-otp, a wrong code", otp.statements(WAL, otp.wrong(WAL, "held"))),
                ("django-otp form path", otp.statements(WAL, otp.valid(WAL, "form"))),
            ]
            issuer.check()
            otp.check()
        finally:
            totp_models.time = real_time
            from django.db import connections

            connections.close_all()
            issuer.close()

    print()
    print("statements SQLite runs per call:")
    for name, statements in described:
        print(f"  {name:<26} {statements}")
    print()
    # When a call's wall time is well above its CPU time, the disk (fsync) is the bottleneck,
    # typically because other processes write to it too; the ratios then shrink towards 1.
    title = f"best of {args.rounds} rounds"
    print(f"{title:<42} {'per second':>10} {'wall per call':>14} {'CPU per call':>13}")
    print("-" * 82)
    for case in cases:
        print(
            f"{case.name:<42} {case.best:>10.0f} {1e6 / case.best:>11.0f} us "
            f"{case.cpu * 1e6:>10.0f} us"
        )
    rates = {case.name: case.best for case in cases}
    print()
    print("ratios, issuer / django-otp (like for like: each reads the token, then writes it)")
    for kind in ("valid", "wrong"):
        by_user = rates[f"issuer verify(user=), {kind} code"]
        by_serial = rates[f"issuer verify(serial=), {kind} code"]
        anchor = rates[f"django-otp verify_token, {kind} code"]
        form = rates[f"django-otp form path, {kind} code"]
        print(f"{kind} code: issuer verify(user=) / verify_token: {by_user / anchor:.2f}x")
        print(f"  like for like, issuer verify(serial=) / form path: {by_serial / form:.2f}x")
    print(f"total run time {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
