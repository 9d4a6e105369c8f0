"""Hypothesis strategies shared by the test modules."""

from __future__ import annotations

from hypothesis import strategies as st

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
