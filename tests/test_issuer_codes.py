"""Out-of-band codes on the issuer: the SMS and e-mail codes of the seeds (issue 8, section 3).

A code is random digits from ``softtoken._random`` (SECURITY.md S3), valid for its stated life
from the second it is issued, single use, with a small attempt budget; only the newest code of a
user and purpose is valid, and the issuer keeps only a keyed hash of it. Every refusal is the
same ``InvalidCode``; the code's own audit chain says why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import pytest

from softtoken import _random
from softtoken.exceptions import InvalidCode, InvalidInput
from softtoken.issuer import Issuer
from softtoken.issuer.records import CodeRecord, encode
from softtoken.issuer.rows import code_key, open_code
from softtoken.issuer.stores import MemoryStore
from softtoken.issuer.stores.base import Row
from tests.issuer_support import NOW, keyring

USER = "ana"
PURPOSE = "registration"
INVALID_CODE_MESSAGE = str(InvalidCode())


def fresh() -> tuple[Issuer, MemoryStore]:
    """An issuer on an empty MemoryStore, and the store."""
    store = MemoryStore()
    return Issuer(store, keyring()), store


def other_than(code: str) -> str:
    """A code of the same length that differs from *code* in its last digit."""
    return code[:-1] + str((int(code[-1]) + 1) % 10)


def refused(call: Callable[[], object]) -> InvalidCode:
    """Run *call*, which must raise InvalidCode, and return the error."""
    with pytest.raises(InvalidCode) as caught:
        call()
    return caught.value


def outcomes(issuer: Issuer, user: str = USER, purpose: str = PURPOSE) -> list[str]:
    """The outcomes of the code chain of *user* and *purpose*, in order."""
    return [event.outcome for event in issuer.code_audit(user=user, purpose=purpose)]


def stored(issuer: Issuer, store: MemoryStore, user: str, purpose: str) -> tuple[Row, CodeRecord]:
    """The stored row of a code and the record it opens to."""
    row = store.get("code", code_key(user, purpose))
    assert row is not None
    return row, open_code(issuer.engine.keyring, row)


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Make ``_random.random_digits`` hand out the codes the test appends, in order."""
    queue: list[str] = []

    def digits(n: int) -> str:
        code = queue.pop(0)
        assert n == len(code)
        return code

    monkeypatch.setattr(_random, "random_digits", digits)
    yield queue
    assert [] == queue


class TestIssuing:
    """send_code returns random digits of the asked length and keeps nothing readable."""

    @pytest.mark.parametrize("digits", [4, 5, 6, 7, 8, 9, 10])
    def test_length_is_configurable(self, digits: int) -> None:
        """A code has exactly *digits* ASCII digits, and it is accepted."""
        issuer, _ = fresh()
        code = issuer.send_code(user=USER, purpose=PURPOSE, digits=digits, at=NOW)
        assert (digits, True, True) == (len(code), code.isascii(), code.isdigit())
        issuer.check_code(code, user=USER, purpose=PURPOSE, at=NOW)

    def test_default_is_six_digits(self) -> None:
        """Without a length, a code has 6 digits."""
        issuer, _ = fresh()
        assert 6 == len(issuer.send_code(user=USER, purpose=PURPOSE, at=NOW))

    @pytest.mark.parametrize(
        "option", [{"digits": 3}, {"digits": 11}, {"ttl": 0}, {"ttl": 86_401}, {"attempts": 0}]
    )
    def test_out_of_range_options_are_refused(self, option: dict[str, int]) -> None:
        """A length outside 4-10, a life outside 1 s to a day, or no attempts is refused, and
        nothing is stored."""
        issuer, store = fresh()
        with pytest.raises(InvalidInput):
            issuer.send_code(user=USER, purpose=PURPOSE, at=NOW, **option)
        assert [] == store.find("code")

    def test_codes_come_from_the_random_helper(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """S3: replacing softtoken._random.random_digits changes the code to what it returns."""
        monkeypatch.setattr(_random, "random_digits", lambda n: "4" * n)
        issuer, _ = fresh()
        assert "44444444" == issuer.send_code(user=USER, purpose=PURPOSE, digits=8, at=NOW)

    @pytest.mark.parametrize("byte", [3, 7])
    def test_codes_come_from_the_csprng_source(
        self, monkeypatch: pytest.MonkeyPatch, byte: int
    ) -> None:
        """S3: replacing the helper's byte source (as tests/test_random.py does) changes the
        code to the digits of those bytes."""
        monkeypatch.setattr(_random, "_source", lambda n: bytes([byte]) * n)
        issuer, _ = fresh()
        assert str(byte) * 6 == issuer.send_code(user=USER, purpose=PURPOSE, at=NOW)

    def test_each_code_is_drawn_afresh(self, scripted: list[str]) -> None:
        """Two sends draw twice from the helper: each returns what the helper gave."""
        scripted.extend(["111111", "222222"])
        issuer, _ = fresh()
        sent = [issuer.send_code(user=USER, purpose=PURPOSE, at=NOW) for _ in range(2)]
        assert ["111111", "222222"] == sent


class TestLifetime:
    """A code lives ttl seconds from its issuance, not from a time step."""

    def test_accepted_on_its_last_second(self) -> None:
        """Issued at t with ttl 300 (the default), a code is accepted at t + 299."""
        issuer, _ = fresh()
        code = issuer.send_code(user=USER, purpose=PURPOSE, at=NOW)
        issuer.check_code(code, user=USER, purpose=PURPOSE, at=NOW + 299)
        assert ["issued", "accepted"] == outcomes(issuer)

    def test_refused_from_its_expiry(self) -> None:
        """Issued at t with ttl 300, a code is refused at t + 300, as expired."""
        issuer, _ = fresh()
        code = issuer.send_code(user=USER, purpose=PURPOSE, at=NOW)
        refused(lambda: issuer.check_code(code, user=USER, purpose=PURPOSE, at=NOW + 300))
        assert ["issued", "expired"] == outcomes(issuer)

    @pytest.mark.parametrize(("issued", "ttl"), [(29, 2), (17, 60), (1, 299)])
    def test_life_is_not_aligned_to_steps(self, issued: int, ttl: int) -> None:
        """Issued at an arbitrary second, a code is good until issued + ttl - 1 and refused at
        issued + ttl, across any 30-second boundary."""
        at = NOW + issued
        issuer, _ = fresh()
        first = issuer.send_code(user=USER, purpose=PURPOSE, ttl=ttl, at=at)
        issuer.check_code(first, user=USER, purpose=PURPOSE, at=at + ttl - 1)
        second = issuer.send_code(user=USER, purpose=PURPOSE, ttl=ttl, at=at)
        refused(lambda: issuer.check_code(second, user=USER, purpose=PURPOSE, at=at + ttl))

    def test_a_check_before_issuance_does_not_destroy_the_code(self) -> None:
        """A check from a server whose clock is a second behind the issuing server's is
        refused, but leaves the code valid: clock skew between app servers must not erase a
        code the user has not yet typed in."""
        issuer, _ = fresh()
        code = issuer.send_code(user=USER, purpose=PURPOSE, at=NOW)
        refused(lambda: issuer.check_code(code, user=USER, purpose=PURPOSE, at=NOW - 1))
        issuer.check_code(code, user=USER, purpose=PURPOSE, at=NOW)
        assert "accepted" == outcomes(issuer)[-1]

    def test_accepted_at_its_issuance(self) -> None:
        """A code is good from the second it is issued."""
        issuer, _ = fresh()
        code = issuer.send_code(user=USER, purpose=PURPOSE, ttl=1, at=NOW + 7)
        issuer.check_code(code, user=USER, purpose=PURPOSE, at=NOW + 7)
        assert "accepted" == outcomes(issuer)[-1]


class TestSingleUse:
    """A code is accepted once, within its attempt budget, and only while it is the newest."""

    def test_a_code_is_accepted_once(self) -> None:
        """The second check of an accepted code is refused, as used."""
        issuer, _ = fresh()
        code = issuer.send_code(user=USER, purpose=PURPOSE, at=NOW)
        issuer.check_code(code, user=USER, purpose=PURPOSE, at=NOW + 1)
        refused(lambda: issuer.check_code(code, user=USER, purpose=PURPOSE, at=NOW + 2))
        assert ["issued", "accepted", "used"] == outcomes(issuer)

    def test_two_wrong_entries_leave_the_last_attempt(self) -> None:
        """With the default budget of 3, two wrong entries and then the right one pass."""
        issuer, _ = fresh()
        code = issuer.send_code(user=USER, purpose=PURPOSE, at=NOW)
        for _ in range(2):
            refused(lambda: issuer.check_code(other_than(code), user=USER, purpose=PURPOSE, at=NOW))
        issuer.check_code(code, user=USER, purpose=PURPOSE, at=NOW)
        assert ["issued", "wrong_code", "wrong_code", "accepted"] == outcomes(issuer)

    def test_the_third_wrong_entry_spends_the_code(self) -> None:
        """The third wrong entry spends the budget; then even the right code is refused."""
        issuer, _ = fresh()
        code = issuer.send_code(user=USER, purpose=PURPOSE, at=NOW)
        for _ in range(3):
            refused(lambda: issuer.check_code(other_than(code), user=USER, purpose=PURPOSE, at=NOW))
        refused(lambda: issuer.check_code(code, user=USER, purpose=PURPOSE, at=NOW))
        assert ["issued", "wrong_code", "wrong_code", "spent_now", "spent"] == outcomes(issuer)

    @pytest.mark.parametrize("attempts", [1, 5])
    def test_the_budget_is_configurable(self, attempts: int) -> None:
        """With *attempts* tries, that many wrong entries spend the code."""
        issuer, _ = fresh()
        code = issuer.send_code(user=USER, purpose=PURPOSE, attempts=attempts, at=NOW)
        for _ in range(attempts):
            refused(lambda: issuer.check_code(other_than(code), user=USER, purpose=PURPOSE, at=NOW))
        refused(lambda: issuer.check_code(code, user=USER, purpose=PURPOSE, at=NOW))
        assert "spent" == outcomes(issuer)[-1]

    def test_a_wrong_length_counts_an_attempt(self) -> None:
        """A 5-digit entry for a 6-digit code counts as a wrong entry."""
        issuer, _ = fresh()
        code = issuer.send_code(user=USER, purpose=PURPOSE, at=NOW)
        refused(lambda: issuer.check_code(code[:5], user=USER, purpose=PURPOSE, at=NOW))
        assert "wrong_code" == outcomes(issuer)[-1]

    def test_only_the_newest_code_is_valid(self, scripted: list[str]) -> None:
        """After a second send, the first code is refused and the second accepted."""
        scripted.extend(["135791", "246802"])
        issuer, _ = fresh()
        first = issuer.send_code(user=USER, purpose=PURPOSE, at=NOW)
        second = issuer.send_code(user=USER, purpose=PURPOSE, at=NOW + 5)
        refused(lambda: issuer.check_code(first, user=USER, purpose=PURPOSE, at=NOW + 6))
        issuer.check_code(second, user=USER, purpose=PURPOSE, at=NOW + 6)
        assert ["issued", "issued", "wrong_code", "accepted"] == outcomes(issuer)

    def test_a_new_code_restores_the_budget(self, scripted: list[str]) -> None:
        """A spent code is replaced by a new send, which has its own attempts."""
        scripted.extend(["135791", "246802"])
        issuer, _ = fresh()
        first = issuer.send_code(user=USER, purpose=PURPOSE, at=NOW)
        for _ in range(3):
            refused(lambda: issuer.check_code("000000", user=USER, purpose=PURPOSE, at=NOW))
        refused(lambda: issuer.check_code(first, user=USER, purpose=PURPOSE, at=NOW))
        second = issuer.send_code(user=USER, purpose=PURPOSE, at=NOW + 1)
        issuer.check_code(second, user=USER, purpose=PURPOSE, at=NOW + 1)


class TestIndependence:
    """Each (user, purpose) has its own code, budget and chain."""

    def test_purposes_and_users_do_not_share_codes(self, scripted: list[str]) -> None:
        """A code for one user and purpose is refused for another, and accepted for its own."""
        scripted.extend(["111111", "222222", "333333"])
        issuer, _ = fresh()
        pairs = [(USER, "login"), (USER, "registration"), ("bob", "login")]
        sent = {pair: issuer.send_code(user=pair[0], purpose=pair[1], at=NOW) for pair in pairs}
        for (user, purpose), code in sent.items():
            for other_user, other_purpose in pairs:
                if (other_user, other_purpose) != (user, purpose):
                    with pytest.raises(InvalidCode):
                        issuer.check_code(code, user=other_user, purpose=other_purpose, at=NOW)
        # Each pair took 2 wrong entries: its own code, the third try, still passes.
        for (user, purpose), code in sent.items():
            issuer.check_code(code, user=user, purpose=purpose, at=NOW)

    def test_a_spent_budget_spends_only_its_own_code(self) -> None:
        """Spending ana's login code leaves her registration code and bob's login code valid."""
        issuer, _ = fresh()
        login = issuer.send_code(user=USER, purpose="login", at=NOW)
        registration = issuer.send_code(user=USER, purpose="registration", at=NOW)
        bobs = issuer.send_code(user="bob", purpose="login", at=NOW)
        for _ in range(3):
            refused(
                lambda: issuer.check_code(other_than(login), user=USER, purpose="login", at=NOW)
            )
        issuer.check_code(registration, user=USER, purpose="registration", at=NOW)
        issuer.check_code(bobs, user="bob", purpose="login", at=NOW)
        assert "spent_now" == outcomes(issuer, USER, "login")[-1]


class TestKeyedHash:
    """The issuer keeps a keyed hash of each code, bound to its user, purpose and time."""

    CODE = "58213947"

    def test_the_digest_is_not_the_code(self, scripted: list[str]) -> None:
        """The stored digest is neither the code nor its plain SHA-256."""
        scripted.append(self.CODE)
        issuer, store = fresh()
        issuer.send_code(user=USER, purpose=PURPOSE, digits=8, at=NOW)
        _, record = stored(issuer, store, USER, PURPOSE)
        assert record.digest is not None
        assert 32 == len(record.digest)
        assert self.CODE.encode() != record.digest
        assert hashlib.sha256(self.CODE.encode()).digest() != record.digest

    def test_the_same_code_hashes_differently_per_user_time_and_purpose(
        self, scripted: list[str]
    ) -> None:
        """The same code sent to ana, to bob, for another purpose, and to ana a second later,
        is stored under four different digests."""
        scripted.extend([self.CODE] * 4)
        issuer, store = fresh()
        sends = [(USER, PURPOSE, NOW), ("bob", PURPOSE, NOW), (USER, "login", NOW)]
        digests = []
        for user, purpose, at in sends:
            issuer.send_code(user=user, purpose=purpose, digits=8, at=at)
            digests.append(stored(issuer, store, user, purpose)[1].digest)
        issuer.send_code(user=USER, purpose=PURPOSE, digits=8, at=NOW + 1)
        digests.append(stored(issuer, store, USER, PURPOSE)[1].digest)
        assert 4 == len(set(digests))

    def test_the_code_is_in_no_stored_byte(self, scripted: list[str]) -> None:
        """Neither the sealed row, nor the record it opens to, nor any audit event holds the
        code's text."""
        scripted.append(self.CODE)
        issuer, store = fresh()
        issuer.send_code(user=USER, purpose=PURPOSE, digits=8, at=NOW)
        refused(lambda: issuer.check_code("00000000", user=USER, purpose=PURPOSE, at=NOW))
        row, record = stored(issuer, store, USER, PURPOSE)
        needle = self.CODE.encode()
        assert needle not in row.sealed
        assert needle not in encode(record)
        assert self.CODE not in repr(record)
        for event in issuer.code_audit(user=USER, purpose=PURPOSE):
            assert self.CODE not in repr(event)
            assert needle not in event.mac

    def test_a_used_code_leaves_no_digest(self) -> None:
        """Once accepted, the record keeps no digest at all."""
        issuer, store = fresh()
        code = issuer.send_code(user=USER, purpose=PURPOSE, at=NOW)
        issuer.check_code(code, user=USER, purpose=PURPOSE, at=NOW)
        _, record = stored(issuer, store, USER, PURPOSE)
        assert (None, True) == (record.digest, record.used)


def _refusal(name: str) -> tuple[Issuer, Callable[[], None], str | None]:
    """An issuer, a refused check, and the outcome the code chain records (None: no chain)."""
    issuer, _ = fresh()
    code = issuer.send_code(user=USER, purpose=PURPOSE, at=NOW)

    def check(entry: str = code, user: str = USER, purpose: str = PURPOSE, at: int = NOW) -> None:
        issuer.check_code(entry, user=user, purpose=purpose, at=at)

    if name == "wrong":
        return issuer, lambda: check(other_than(code)), "wrong_code"
    if name == "used":
        check()
        return issuer, check, "used"
    if name == "expired":
        return issuer, lambda: check(at=NOW + 300), "expired"
    if name == "spent":
        for _ in range(3):
            refused(lambda: check(other_than(code)))
        return issuer, check, "spent"
    if name == "unknown_user":
        return issuer, lambda: check(user="carla"), None
    if name == "unknown_purpose":
        return issuer, lambda: check(purpose="reset"), None
    if name == "too_short":
        return issuer, lambda: check("123"), None
    if name == "too_long":
        return issuer, lambda: check("12345678901"), None
    if name == "letters":
        return issuer, lambda: check(code[:5] + "x"), None
    assert "non_ascii_digits" == name
    return issuer, lambda: check("１２３４５６"), None


REFUSALS = [
    "wrong",
    "used",
    "expired",
    "spent",
    "unknown_user",
    "unknown_purpose",
    "too_short",
    "too_long",
    "letters",
    "non_ascii_digits",
]


class TestNoOracle:
    """Every refusal of an out-of-band code is the same InvalidCode."""

    @pytest.mark.parametrize("name", REFUSALS)
    def test_every_refusal_is_the_same_error(self, name: str) -> None:
        """Exactly InvalidCode, with the one message and nothing chained."""
        _, attempt, _ = _refusal(name)
        error = refused(attempt)
        assert (InvalidCode, INVALID_CODE_MESSAGE, None, None) == (
            type(error),
            str(error),
            error.__cause__,
            error.__context__,
        )

    @pytest.mark.parametrize("name", REFUSALS)
    def test_the_chain_records_the_cause(self, name: str) -> None:
        """The code's chain gains the real cause; a refusal before any record gains nothing."""
        issuer, attempt, outcome = _refusal(name)
        before = outcomes(issuer)
        refused(attempt)
        after = outcomes(issuer)
        assert (before if outcome is None else [*before, outcome]) == after

    def test_a_check_without_a_code_is_audited_on_its_own(self) -> None:
        """A check for a user who was sent no code writes one event in a chain of its own, with
        the cause and neither the user, the purpose nor the code."""
        issuer, store = fresh()
        refused(lambda: issuer.check_code("123456", user="nobody", purpose=PURPOSE, at=NOW))
        (subject,) = store.subjects()
        (event,) = store.events(subject)
        assert ("unknown:", "check_code", "unknown_code") == (
            subject[:8],
            event.action,
            event.outcome,
        )
        assert [] == [text for text in ("nobody", PURPOSE, "123456") if text in repr(event)]

    @pytest.mark.parametrize("code", [123456, b"123456", None])
    def test_a_code_must_be_str(self, code: object) -> None:
        """A code that is not a str is a TypeError."""
        issuer, _ = fresh()
        issuer.send_code(user=USER, purpose=PURPOSE, at=NOW)
        with pytest.raises(TypeError):
            issuer.check_code(code, user=USER, purpose=PURPOSE, at=NOW)  # type: ignore[arg-type]


class TestCodeChain:
    """Every send and check is audited in the code's own chain, which verifies."""

    def test_the_chain_verifies(self) -> None:
        """send, wrong, right: three events, all verified, none with an actor or state."""
        issuer, _ = fresh()
        code = issuer.send_code(user=USER, purpose=PURPOSE, at=NOW)
        refused(lambda: issuer.check_code(other_than(code), user=USER, purpose=PURPOSE, at=NOW))
        issuer.check_code(code, user=USER, purpose=PURPOSE, at=NOW + 3)
        events = issuer.code_audit(user=USER, purpose=PURPOSE)
        assert ["send_code", "check_code", "check_code"] == [event.action for event in events]
        assert [NOW, NOW, NOW + 3] == [event.at for event in events]
        assert 3 == issuer.verify_code_audit(user=USER, purpose=PURPOSE)

    def test_an_unknown_chain_is_empty(self) -> None:
        """A user and purpose with no code have an empty chain that verifies as 0 events."""
        issuer, _ = fresh()
        assert ([], 0) == (
            issuer.code_audit(user="carla", purpose="reset"),
            issuer.verify_code_audit(user="carla", purpose="reset"),
        )
