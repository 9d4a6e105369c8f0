"""The issuer side: what the bank runs (ARCHITECTURE.md layer 3).

:class:`Issuer` issues tokens and completes their activation, verifies codes atomically (window,
drift, replay floor, failure count), assigns, blocks and releases tokens with reasons, issues
unlock codes and out-of-band codes, and keeps a tamper-evident audit trail, over a store that
several processes share (:mod:`softtoken.issuer.stores`). Records are sealed with AES-GCM under
a :class:`Keyring` kept outside the database.
"""

from __future__ import annotations

from softtoken.issuer.audit import Action, AuditEvent
from softtoken.issuer.keyring import Keyring
from softtoken.issuer.maintenance import RotationReport
from softtoken.issuer.policy import DEFAULT_POLICY, IssuerPolicy
from softtoken.issuer.records import BlockReason, ReleaseReason, TokenState, Window
from softtoken.issuer.service import Issuer, OfflineActivation
from softtoken.issuer.tokeninfo import TokenInfo

__all__ = [
    "DEFAULT_POLICY",
    "Action",
    "AuditEvent",
    "BlockReason",
    "Issuer",
    "IssuerPolicy",
    "Keyring",
    "OfflineActivation",
    "ReleaseReason",
    "RotationReport",
    "TokenInfo",
    "TokenState",
    "Window",
]
