"""What an administrator may see of a token: everything but its secrets."""

from __future__ import annotations

import attrs

from softtoken.issuer.records import BlockReason, ReleaseReason, TokenRecord, TokenState, Window
from softtoken.provisioning.identifiers import Serial
from softtoken.provisioning.params import TokenParams

__all__ = ["TokenInfo"]


@attrs.frozen
class TokenInfo:
    """A token's public view.

    Attributes:
        serial, state, pool, user: where the token is, and whose it is.
        params: what codes it makes, while it has a seed.
        generation: how many seeds it has had.
        last_counter: the last accepted step or counter (-1 for none).
        drift: the learned TOTP drift in steps (reset it with ``Issuer.reset_drift``).
        window: its verification window.
        failures: consecutive wrong codes counted.
        block_reason, release_reason: why it is blocked, or why its release waits.
        activating: an activation is in progress.
        version, updated_at: its record's version and last change (Unix seconds).
    """

    serial: Serial
    state: TokenState
    pool: str | None
    user: str | None
    params: TokenParams | None
    generation: int
    last_counter: int
    drift: int
    window: Window
    failures: int
    block_reason: BlockReason | None
    release_reason: ReleaseReason | None
    activating: bool
    version: int
    updated_at: int

    @classmethod
    def of(cls, record: TokenRecord) -> TokenInfo:
        """The public view of *record*."""
        return cls(
            serial=record.serial,
            state=record.state,
            pool=record.pool,
            user=record.user,
            params=record.params,
            generation=record.generation,
            last_counter=record.last_counter,
            drift=record.drift,
            window=record.window,
            failures=record.throttle.failures,
            block_reason=record.block_reason,
            release_reason=record.release_reason,
            activating=record.pending is not None,
            version=record.version,
            updated_at=record.updated_at,
        )
