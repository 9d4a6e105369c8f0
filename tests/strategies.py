"""Hypothesis strategies shared by the test modules."""

from __future__ import annotations

from hypothesis import strategies as st

from softtoken.provisioning.identifiers import Serial

algorithms = st.sampled_from(["sha1", "sha256", "sha512"])
digits = st.integers(min_value=6, max_value=10)
keys = st.binary(min_size=16, max_size=80)
# The full 8-byte counter range of RFC 4226 §5.2, with the edges made likely.
counters = st.one_of(
    st.integers(min_value=0, max_value=2**64 - 1),
    st.sampled_from([0, 1, 2**31 - 1, 2**32 - 1, 2**32, 2**63, 2**64 - 1]),
)
# Unix seconds up to year 3000, well past 2**32 (RFC 6238 §4.2 asks for times beyond 2038).
unix_times = st.integers(min_value=0, max_value=32_503_680_000)
periods = st.sampled_from([15, 30, 60, 300])


def _of_lengths(lengths: list[int]) -> st.SearchStrategy[bytes]:
    return st.sampled_from(lengths).flatmap(lambda n: st.binary(min_size=n, max_size=n))


# FIPS 180-4 §5.1 padding edges: 55/56 and 64 bytes for the 64-byte blocks of SHA-1 and SHA-256,
# 111/112 and 128 bytes for the 128-byte blocks of SHA-512, each with its neighbours.
_PADDING_EDGES = [0, 1, 55, 56, 57, 63, 64, 65, 111, 112, 113, 119, 120, 127, 128, 129]
# Messages for the hash functions: any length up to a few blocks, with the padding edges likely.
hash_messages = st.one_of(st.binary(max_size=400), _of_lengths(_PADDING_EDGES))
# HMAC keys of any length, including empty and longer than the 128-byte SHA-512 block, which
# RFC 2104 §2 hashes first.
hmac_keys = st.one_of(st.binary(max_size=300), _of_lengths([0, 63, 64, 65, 127, 128, 129, 200]))

# OCRA suites (RFC 6287 §6) as keyword arguments of softtoken.ocra.OCRASuite. Time steps cover
# the three spellings: 1-59 seconds, 1-59 minutes and 1-48 hours.
ocra_time_steps = st.one_of(
    st.integers(min_value=1, max_value=59),
    st.integers(min_value=1, max_value=59).map(lambda n: 60 * n),
    st.integers(min_value=1, max_value=48).map(lambda n: 3600 * n),
)
ocra_suite_fields = st.fixed_dictionaries(
    {
        "algorithm": algorithms,
        "digits": st.sampled_from([0, 4, 5, 6, 7, 8, 9, 10]),
        "counter": st.booleans(),
        "question_format": st.sampled_from(["A", "H", "N"]),
        "question_length": st.integers(min_value=4, max_value=64),
        "pin_algorithm": st.none() | algorithms,
        "session_length": st.none() | st.integers(min_value=1, max_value=512),
        "time_step": st.none() | ocra_time_steps,
    }
)

# App PINs and lockout policies (SECURITY.md S10, softtoken.pinlock). Lockout policies are
# keyword arguments, with on_limit given as the OnLimit value ("lock" or "wipe").
pins = st.text(alphabet="0123456789", min_size=4, max_size=12)


@st.composite
def _lockout_policy_fields(draw: st.DrawFn, *, on_limit: bool = True) -> dict[str, object]:
    # A composite rather than a flatmap: the same values, drawn about a third faster.
    n = draw(st.integers(min_value=1, max_value=6))
    fields: dict[str, object] = {"max_failures": n}
    if on_limit:
        fields["on_limit"] = draw(st.sampled_from(["lock", "wipe"]))
    fields["delays"] = tuple(draw(st.lists(st.sampled_from([0, 1, 5, 30]), max_size=n - 1)))
    return fields


lockout_policy_fields = _lockout_policy_fields()

# otpauth Key URIs (softtoken.provisioning.KeyURI) as keyword arguments. Names and values are text
# that apps can display: no control, format, surrogate or separator characters; the label's names
# also have no colon and no surrounding whitespace.
_DISPLAYABLE = st.characters(exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp"))
_KNOWN_URI_PARAMETERS = {"secret", "issuer", "algorithm", "digits", "period", "counter", "image"}
uri_names = st.text(
    st.characters(exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp"), exclude_characters=":"),
    min_size=1,
    max_size=24,
).filter(lambda s: s == s.strip())
uri_extra_parameters = st.lists(
    st.tuples(
        st.text(_DISPLAYABLE, min_size=1, max_size=12).filter(
            lambda name: name.lower() not in _KNOWN_URI_PARAMETERS
        ),
        st.text(_DISPLAYABLE, max_size=24),
    ),
    max_size=3,
).map(tuple)


def _key_uri_fields(kind: str) -> st.SearchStrategy[dict[str, object]]:
    return st.fixed_dictionaries(
        {
            "kind": st.just(kind),
            "secret": st.binary(min_size=1, max_size=64),
            "account": uri_names,
            "issuer": st.none() | uri_names,
            "algorithm": algorithms,
            "digits": digits,
            "period": periods | st.integers(min_value=1, max_value=2**40)
            if kind == "totp"
            else st.just(30),
            "counter": counters if kind == "hotp" else st.none(),
            "image": st.none() | st.text(_DISPLAYABLE, min_size=1, max_size=40),
            "extra": uri_extra_parameters,
        }
    )


key_uri_fields = st.sampled_from(["totp", "hotp"]).flatmap(_key_uri_fields)

# Fragments that stress a URI parser: broken and valid escapes, delimiters, repeated or
# out-of-range parameters, and a few random characters.
_URI_SNIPPETS = st.one_of(
    st.text(max_size=3),
    st.sampled_from(
        [
            *("%", "%2", "%ZZ", "%3A", "%20", "%C3", "%FF%FE"),
            *(":", "/", "?", "&", "=", "#", "+", "&&"),
            *("&secret=MZXW6", "&digits=8", "&period=0", "&counter=01", "&issuer=x", "otpauth://"),
        ]
    ),
)


def mutated(texts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Strings from *texts* after one to four edits: a deletion, an insertion, a replacement, a
    duplicated slice or a case flip, each over at most 8 characters."""

    @st.composite
    def edit(draw: st.DrawFn) -> str:
        text = draw(texts)
        for _ in range(draw(st.integers(min_value=1, max_value=4))):
            start = draw(st.integers(min_value=0, max_value=len(text)))
            end = draw(st.integers(min_value=start, max_value=min(len(text), start + 8)))
            operation = draw(st.sampled_from(["delete", "insert", "replace", "duplicate", "case"]))
            if operation == "delete":
                text = text[:start] + text[end:]
            elif operation == "insert":
                text = text[:start] + draw(_URI_SNIPPETS) + text[start:]
            elif operation == "replace":
                text = text[:start] + draw(_URI_SNIPPETS) + text[end:]
            elif operation == "duplicate":
                text = text[:end] + text[start:end] + text[end:]
            else:
                text = text[:start] + text[start:end].swapcase() + text[end:]
        return text

    return edit()


# The PIN unlock exchange (softtoken.unlock). Reset payloads are the 8 random digits before the
# check digit. Unlock policies are
# keyword arguments of UnlockPolicy, kept small so that exhausting them stays fast.
# Serials (softtoken.provisioning.Serial) as their 10 digits: 9 digits and a Luhn check digit.
serials = st.integers(min_value=0, max_value=10**9 - 1).map(
    lambda number: str(Serial.from_number(number))
)
reset_payloads = st.text(alphabet="0123456789", min_size=8, max_size=8)
unlock_policy_fields = st.fixed_dictionaries(
    {
        "max_tries": st.integers(min_value=1, max_value=4),
        "max_reset_codes": st.integers(min_value=1, max_value=3),
        "digits": digits,
    }
)

# The failure-count machine (softtoken.throttle). Throttle policies are keyword arguments of
# ThrottlePolicy, small so that runs reach the block often. Clock gaps may be negative: a phone's
# clock can be moved back. Throttle states are keyword arguments of ThrottleState that satisfy
# its rules: a block has an episode and neither a delay nor an open attempt, and an open attempt
# has no delay.
throttle_policy_fields = _lockout_policy_fields(on_limit=False)
clock_gaps = st.integers(min_value=-60, max_value=120)
_U16 = st.integers(min_value=0, max_value=2**16 - 1)
_U32 = st.integers(min_value=0, max_value=2**32 - 1)
_U64 = st.integers(min_value=0, max_value=2**64 - 1)


@st.composite
def _throttle_state_fields(draw: st.DrawFn) -> dict[str, int | bool]:
    shape = draw(st.sampled_from(["idle", "delayed", "open", "blocked"]))
    return {
        "failures": draw(_U16),
        "blocked": shape == "blocked",
        "episode": draw(st.integers(min_value=1, max_value=2**32 - 1))
        if shape == "blocked"
        else draw(_U32),
        "not_before": draw(_U64) if shape == "delayed" else 0,
        "attempt_open": shape == "open",
        "version": draw(_U64),
    }


throttle_state_fields = _throttle_state_fields()
# Any text a user might type as a PIN: the valid shapes, and anything else.
pin_texts = st.one_of(pins, st.text(max_size=16), st.text(alphabet="0123456789", max_size=14))
# Keyword arguments of PINPolicy, including deny-lists and the common-PIN list.
pin_policy_fields = st.integers(min_value=4, max_value=8).flatmap(
    lambda low: st.fixed_dictionaries(
        {
            "min_length": st.just(low),
            "max_length": st.integers(min_value=low, max_value=12),
            "history": st.integers(min_value=0, max_value=10),
            "deny_common": st.booleans(),
            "deny_list": st.frozensets(pins, max_size=4),
        }
    )
)

# QR activation (softtoken.provisioning.qr_activation). Token parameters are keyword arguments of
# TokenParams. URLs are https URLs of the characters an offer allows, including "%" and the
# reserved characters that the offer must percent-encode. Offers are keyword arguments of Offer,
# except that the serial is its 9-digit number and the issuer's key is given as a private key,
# from which the test derives the public one (any 32 bytes are an X25519 private key, RFC 7748
# §5), so that every drawn key is usable.
token_params_fields = st.one_of(
    st.fixed_dictionaries(
        {"kind": st.just("totp"), "algorithm": algorithms, "digits": digits, "period": periods}
    ),
    st.fixed_dictionaries({"kind": st.just("hotp"), "algorithm": algorithms, "digits": digits}),
)
_URL_HOSTS = st.from_regex(r"[a-z0-9-]{1,12}(?:\.[a-z0-9-]{1,12}){0,3}", fullmatch=True)
_URL_TAILS = st.text(alphabet="ABCXYZabcxyz0189-._~!$&'()*+,;=:@/?%", max_size=40).map(
    lambda tail: "/" + tail
)
qr_urls = st.builds(
    lambda host, port, tail: f"https://{host}{port}{tail}",
    _URL_HOSTS,
    st.sampled_from(["", ":443", ":8443"]),
    st.just("") | _URL_TAILS,
)
qr_passwords = st.text(alphabet="0123456789", min_size=8, max_size=8)
qr_offer_fields = st.fixed_dictionaries(
    {
        "serial_number": st.integers(min_value=0, max_value=10**9 - 1),
        "activation_id": st.binary(min_size=16, max_size=16),
        "issuer_private": st.binary(min_size=32, max_size=32),
        "params": token_params_fields,
        "expires": st.integers(min_value=0, max_value=2**64 - 1),
        "url": qr_urls,
    }
)

# Offline activation (softtoken.provisioning.offline), which also draws token_params_fields from
# above. Serial numbers are the 9 digits before a serial's check digit; activation and
# registration payloads are the random digits before theirs (15 and 9).
serial_numbers = st.integers(min_value=0, max_value=10**9 - 1)
activation_payloads = st.text(alphabet="0123456789", min_size=15, max_size=15)
registration_payloads = st.text(alphabet="0123456789", min_size=9, max_size=9)


@st.composite
def _mutated_bytes(draw: st.DrawFn, blobs: st.SearchStrategy[bytes]) -> bytes:
    data = draw(blobs)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        position = draw(st.integers(min_value=0, max_value=len(data)))
        operation = draw(st.sampled_from(["flip", "delete", "insert"]))
        if operation == "flip" and position < len(data):
            bit = 1 << draw(st.integers(min_value=0, max_value=7))
            data = data[:position] + bytes([data[position] ^ bit]) + data[position + 1 :]
        elif operation == "delete":
            data = data[:position] + data[position + 1 :]
        else:
            data = data[:position] + draw(st.binary(min_size=1, max_size=4)) + data[position:]
    return data


def mutated_bytes(blobs: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Byte strings from *blobs* after one to three edits: a flipped bit, a deleted byte or up
    to four inserted bytes, so that a stored record's decoder meets near misses."""
    return _mutated_bytes(blobs)


# Steps of an offline activation or an enrollment, for properties over whole runs: take a
# registration code (the right one or a wrong one), try a first code (the right one or a wrong
# one), or let some seconds pass, up to a day so that runs also cross the expiry.
activation_steps = st.lists(
    st.one_of(
        st.tuples(st.just("complete"), st.booleans()),
        st.tuples(st.just("confirm"), st.booleans()),
        st.tuples(st.just("wait"), st.integers(min_value=0, max_value=86_400)),
    ),
    max_size=14,
)
