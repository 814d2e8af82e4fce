"""A local Office Server wallet service: the tests' real other side.

It depends on the seal rule and the schema only, never on the client.
"""

from __future__ import annotations

from .app import DEFAULT_MERCHANT, Merchant, SimulatorApp
from .faults import FAULT_KINDS, FaultProfile
from .server import SERVICE_PATH, Simulator
from .store import WalletStore
from .tls import ServerTLS, ThrowawayPKI, make_test_pki

__all__ = [
    "DEFAULT_MERCHANT",
    "FAULT_KINDS",
    "SERVICE_PATH",
    "FaultProfile",
    "Merchant",
    "ServerTLS",
    "Simulator",
    "SimulatorApp",
    "ThrowawayPKI",
    "WalletStore",
    "make_test_pki",
]
