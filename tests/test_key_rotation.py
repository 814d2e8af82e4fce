"""Key rotation: a key ring switched without a restart, expiry, and the simulator's
key versions with validity windows.  Everything goes through the simulator on
127.0.0.1; the seals are the simulator's, checked by its own verifier."""

from __future__ import annotations

import logging
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import CLIENT_DAY, OTHER_PAN, SIMULATOR_DAY, TEST_PAN

from sogen_soap import (
    ConfigurationError,
    InvalidFieldError,
    KeyExpired,
    KeyRing,
    KeyVersion,
    RetryPolicy,
    SecretKey,
    WalletClient,
)
from sogen_soap.simulator import DEFAULT_MERCHANT, Merchant, Simulator
from sogen_soap.testing import SimulatedWallet, simulated_wallet

MERCHANT_ID = DEFAULT_MERCHANT.merchant_id
KEY_1 = DEFAULT_MERCHANT.secret_key
KEY_2 = "002001000000001_KEY2_rotated"
TODAY = CLIENT_DAY  # the client's key ring (UTC)
SIMULATOR_TODAY = SIMULATOR_DAY  # the simulator's key windows (Paris)
pytestmark = pytest.mark.usefixtures("held_days")  # dates written above stay today


def _ring(active: int | None = 1, **dates: date | None) -> KeyRing:
    return KeyRing(
        [
            KeyVersion(1, SecretKey(KEY_1), dates.get("expires_1"), dates.get("from_1")),
            KeyVersion(2, SecretKey(KEY_2), dates.get("expires_2"), dates.get("from_2")),
        ],
        active=active,
    )


def _client(sim: Simulator, keys: KeyRing) -> WalletClient:
    return WalletClient(
        MERCHANT_ID, keys, environment=sim.url, timeout=5.0,
        retry=RetryPolicy(attempts=3, base_delay=0.005),
    )  # fmt: skip


def _both_keys(**options: object) -> Simulator:
    return Simulator(
        merchants=[DEFAULT_MERCHANT, Merchant(MERCHANT_ID, 2, KEY_2)], record=True, **options
    )  # type: ignore[arg-type]


def test_a_whole_wallet_life_runs_across_a_key_switch_with_no_failed_call() -> None:
    """Version 1 active, then version 2, no restart; calls in flight during the switch
    are answered under, and verified with, the version they were sealed with."""
    with _both_keys(latency=0.3) as sim, _client(sim, _ring(active=1)) as client:
        first = client.add_card("life", TEST_PAN, "203012")
        assert (first.ok, first.seal_verified, first.key_version) == (True, True, 1)

        in_flight: dict[str, object] = {}

        def slow_read() -> None:
            in_flight["result"] = client.get_wallet_data("life")

        arrived = sim.requests_seen
        reader = threading.Thread(target=slow_read)
        reader.start()
        pause = threading.Event()
        for _ in range(1000):  # until the read has reached the simulator: it is in flight
            if sim.requests_seen > arrived:
                break
            pause.wait(0.01)
        assert sim.requests_seen > arrived
        client.activate_key(2)  # no restart, no new client
        second = client.add_card("life", OTHER_PAN, "203101")
        reader.join(10)
        read = in_flight["result"]
        assert (read.ok, read.seal_verified, read.key_version) == (True, True, 1)  # type: ignore[attr-defined]
        assert (second.ok, second.seal_verified, second.key_version) == (True, True, 2)

        renamed = client.update_payment_mean("life", second.payment_mean_id or "", "rotated")
        mean = client.get_payment_mean_data("life", second.payment_mean_id or "")
        removed = client.delete_payment_mean("life", first.payment_mean_id or "")
        wallet = client.get_wallet_data("life")
        gone = client.sign_off("life")
        for result in (renamed, mean, removed, wallet, gone):
            assert (result.ok, result.seal_verified, result.key_version) == (True, True, 2)
        assert [m.payment_mean_alias for m in wallet.payment_means] == ["rotated"]
        # What the service saw: version 1 until the switch, version 2 after it.
        versions = [r.fields["keyVersion"] for r in sim.app.received]
        assert versions == ["1", "1", "2", "2", "2", "2", "2", "2"]
        assert client.key_version == 2


def test_a_switch_by_date_needs_no_call_at_all() -> None:
    """Version 2's active_from reached: it seals; not reached: version 1 still does."""
    assert _ring(active=None, from_2=TODAY).active.version == 2
    assert _ring(active=None, from_2=TODAY + timedelta(days=1)).active.version == 1
    with _both_keys() as sim, _client(sim, _ring(active=None, from_2=TODAY)) as client:
        assert client.add_card("dated", TEST_PAN, "203012").key_version == 2


def test_a_34_right_after_a_switch_says_the_service_may_not_have_the_version_yet() -> None:
    with Simulator(record=True) as sim, _client(sim, _ring(active=1)) as client:
        assert client.get_wallet_data("w").seal_verified  # version 1 is accepted
        client.activate_key(2)  # the service does not know version 2 yet
        refused = client.add_card("w", TEST_PAN, "203012")
        assert refused.response_code == "34"
        assert refused.hint is not None
        assert "key version 2 was switched to" in refused.hint
        assert "may not have activated it" in refused.hint
        assert "version 1 was accepted before" in refused.hint
        assert refused.hint in refused.message


def test_the_34_hint_names_the_latest_version_accepted_before() -> None:
    """With two earlier versions accepted, the hint points back to the newest of them
    (the one a merchant rotating forward would go back to), not the oldest."""
    ring = KeyRing({1: "k1", 2: "k2", 3: "k3"}, active=1)
    ring.for_request()
    ring.proven(1)
    ring.activate(2)
    ring.for_request()
    ring.proven(2)
    ring.activate(3)
    ring.for_request()
    hint = ring.hint_for_34(3)
    assert hint is not None
    assert hint.endswith("; version 2 was accepted before")


def test_a_34_without_a_switch_carries_no_hint() -> None:
    with Simulator() as sim, _client(sim, KeyRing.single("not-the-key", 1)) as client:
        refused = client.add_card("w", TEST_PAN, "203012")
        assert (refused.response_code, refused.hint) == ("34", None)


def test_an_expired_key_is_refused_before_anything_is_sent() -> None:
    yesterday = TODAY - timedelta(days=1)
    with Simulator(record=True) as sim:
        ring = KeyRing([KeyVersion(1, SecretKey(KEY_1), yesterday)])
        with _client(sim, ring) as client:
            with pytest.raises(KeyExpired, match=f"key version 1 expired on {yesterday}"):
                client.add_card("w", TEST_PAN, "203012")
        assert sim.app.received == []
    with pytest.raises(KeyExpired, match="cannot be activated"):
        _ring(active=1, expires_2=yesterday).activate(2)


@pytest.mark.parametrize(
    ("days", "threshold"), [(90, 90), (46, 90), (45, 45), (21, 45), (20, 20), (0, 20)]
)
def test_expiry_is_warned_of_90_45_and_20_days_ahead_once_per_process(
    days: int, threshold: int, caplog: pytest.LogCaptureFixture
) -> None:
    # A version number per case: the warnings are once per process and version.
    version = 1000 + days
    ring = KeyRing([KeyVersion(version, SecretKey(KEY_1), TODAY + timedelta(days=days))])
    with caplog.at_level(logging.WARNING, logger="sogen_soap.keys"):
        for _ in range(3):
            ring.for_request()
    warned = [r for r in caplog.records if r.name == "sogen_soap.keys"]
    assert len(warned) == 1, threshold
    assert f"key version {version} expires on {TODAY + timedelta(days=days)}" in warned[0].message
    assert f"in {days} day" in warned[0].message
    assert KEY_1 not in warned[0].getMessage()


def test_no_warning_beyond_90_days(caplog: pytest.LogCaptureFixture) -> None:
    ring = KeyRing([KeyVersion(1091, SecretKey(KEY_1), TODAY + timedelta(days=91))])
    with caplog.at_level(logging.WARNING, logger="sogen_soap.keys"):
        ring.for_request()
    assert [r for r in caplog.records if r.name == "sogen_soap.keys"] == []


def test_a_ring_refuses_what_would_be_a_silent_choice() -> None:
    with pytest.raises(ConfigurationError, match="none active"):
        KeyRing({1: KEY_1, 2: KEY_2})
    with pytest.raises(ConfigurationError, match="given twice"):
        KeyRing([KeyVersion(1, SecretKey(KEY_1)), KeyVersion(1, SecretKey(KEY_2))])
    with pytest.raises(ConfigurationError, match="no key version 3"):
        _ring().activate(3)
    with pytest.raises(ConfigurationError, match="key_version is for a single secret key"):
        WalletClient(MERCHANT_ID, _ring(), 1)  # type: ignore[misc]
    with pytest.raises(ConfigurationError, match="key_version is needed"):
        WalletClient(MERCHANT_ID, KEY_1)
    assert KEY_1 not in repr(_ring()) and KEY_2 not in repr(_ring().versions)
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(_ring())


def test_a_ring_lists_its_versions_in_version_order_whatever_order_they_came_in() -> None:
    """``versions`` (what ``keys check`` walks and prints) reads 1, 2, 3 even when a
    config file or SOGEN_KEYS named the newest first."""
    ring = KeyRing(
        [KeyVersion(3, SecretKey("k3-secret")), KeyVersion(1, SecretKey(KEY_1)),
         KeyVersion(2, SecretKey(KEY_2))],
        active=2,
    )  # fmt: skip
    assert [v.version for v in ring.versions] == [1, 2, 3]
    assert repr(ring) == "KeyRing(versions=[1, 2, 3], active=2)"


def test_a_ring_finds_a_version_written_as_text_and_names_one_it_lacks() -> None:
    """A version read from an environment variable or a file is text: ``ring["2"]`` and
    ``activate("2")`` find version 2; a version it lacks is named, never a KeyError."""
    ring = _ring()
    assert ring["2"].version == 2  # type: ignore[index]
    ring.activate("2")  # type: ignore[arg-type]
    assert ring.active.version == 2
    for missing in ("3", "two", None):
        with pytest.raises(ConfigurationError) as caught:
            ring[missing]  # type: ignore[index]
        assert str(caught.value) == f"no key version {missing} in the ring (it holds 1, 2)"


@pytest.mark.parametrize(
    ("window", "code"),
    [
        ((None, None), "00"),
        ((SIMULATOR_TODAY, SIMULATOR_TODAY), "00"),  # both days included
        ((None, SIMULATOR_TODAY - timedelta(days=1)), "34"),  # expired
        ((SIMULATOR_TODAY + timedelta(days=1), None), "34"),  # not valid yet
    ],
)
def test_the_simulator_accepts_a_key_version_only_within_its_window(
    window: tuple[date | None, date | None], code: str
) -> None:
    rotated = Merchant(MERCHANT_ID, 2, KEY_2, *window)
    with Simulator(merchants=[DEFAULT_MERCHANT, rotated]) as sim:
        with _client(sim, _ring(active=2)) as client:
            assert client.add_card("w", TEST_PAN, "203012").response_code == code
        with _client(sim, _ring(active=1)) as client:  # version 1 stays accepted
            assert client.get_wallet_data("w").seal_verified


def test_the_simulator_reads_a_key_version_with_its_window_from_a_spec(tmp_path: Path) -> None:
    key_file = tmp_path / "k2"
    key_file.write_text("\ufeff" + KEY_2 + "\r\n", encoding="utf-8")
    merchant = Merchant.from_spec(f"{MERCHANT_ID}:2:{key_file}:2026-01-01:2027-12-31")
    assert merchant == Merchant(MERCHANT_ID, 2, KEY_2, date(2026, 1, 1), date(2027, 12, 31))
    assert Merchant.from_spec(f"{MERCHANT_ID}:2:{key_file}::2027-12-31").valid_from is None
    assert Merchant.from_spec(f"{MERCHANT_ID}:2:{key_file}").valid_until is None
    empty, blank = tmp_path / "empty", tmp_path / "blank"
    empty.write_text("")
    blank.write_text("  \r\n" + KEY_2 + "\n")  # the key is the first line, and it is blank
    bad_specs = [
        (f"{MERCHANT_ID}:x:{key_file}", "expected ID:KEY_VERSION:KEY_FILE"),
        (f"{MERCHANT_ID}:2:{tmp_path / 'none'}", "cannot read key file"),
        (f"{MERCHANT_ID}:2:{key_file}:2026-02-30:", "day is out of range"),
        (f"{MERCHANT_ID}:2:{empty}", f"key file {empty} is empty"),  # an empty key signs anything
        (f"{MERCHANT_ID}:2:{blank}", f"key file {blank} is empty"),
    ]
    for bad, why in bad_specs:
        with pytest.raises(ValueError, match=why):
            Merchant.from_spec(bad)


def test_the_testing_kit_s_key_windows_are_kept_in_simulated_days() -> None:
    """``add_key``'s days, as dates or ``YYYY-MM-DD``, both included; outside them a
    34.  The kit's ``advance`` moves the service's days, so a window can close."""
    from sogen_soap import ConfigurationError
    from sogen_soap.testing import simulated_wallet

    today = SIMULATOR_TODAY
    with simulated_wallet() as kit:
        kit.add_key(2, KEY_2, valid_until=today - timedelta(days=1))  # expired
        kit.add_key(3, KEY_2, valid_from=str(today + timedelta(days=1)))  # not yet
        kit.add_key(4, KEY_2, valid_from=str(today), valid_until=today)  # today only
        codes = {}
        for version in (2, 3, 4):
            with kit.client(keys=KeyRing({version: KEY_2}, active=version)) as client:
                codes[version] = client.get_wallet_data("w").response_code
        assert codes == {2: "34", 3: "34", 4: "25"}
        kit.advance(days=1)
        for version, code in ((3, "25"), (4, "34")):
            with kit.client(keys=KeyRing({version: KEY_2}, active=version)) as client:
                assert client.get_wallet_data("w").response_code == code, version
        for name in ("valid_from", "valid_until"):
            with pytest.raises(ConfigurationError) as refused:
                kit.add_key(5, KEY_2, **{name: "next week"})  # type: ignore[arg-type]
            assert str(refused.value).startswith(f"{name} must be a date written YYYY-MM-DD")


def test_the_testing_kit_adds_key_versions_and_reset_forgets_them() -> None:
    from sogen_soap.testing import simulated_wallet

    with simulated_wallet() as kit:
        kit.add_key(2, KEY_2, valid_until=SIMULATOR_TODAY)
        with kit.client(keys=_ring(active=2)) as client:
            assert client.add_card("w", TEST_PAN, "203012").ok
        kit.reset()
        with kit.client(keys=_ring(active=2)) as client:
            assert client.add_card("w", TEST_PAN, "203012").response_code == "34"
        with kit.client() as client:
            assert client.add_card("w", TEST_PAN, "203012").ok


def test_the_testing_kit_s_async_client_seals_with_the_ring_given() -> None:
    import asyncio

    async def read(kit: SimulatedWallet) -> tuple[int | None, bool]:
        async with kit.async_client(keys=_ring(active=2)) as client:
            result = await client.get_wallet_data("w")
        return result.key_version, result.seal_verified

    with simulated_wallet() as kit:
        kit.add_key(2, KEY_2)
        assert asyncio.run(read(kit)) == (2, True)
        assert [r.fields["keyVersion"] for r in kit.requests] == ["2"]


def test_from_env_builds_a_ring_from_sogen_keys(tmp_path: Path) -> None:
    (tmp_path / "k1").write_text(KEY_1 + "\n")
    (tmp_path / "k2").write_text(KEY_2 + "\n")
    later = TODAY + timedelta(days=700)
    env = {
        "SOGEN_MERCHANT_ID": MERCHANT_ID,
        "SOGEN_KEYS": f"1:{tmp_path / 'k1'}:{later}, 2:{tmp_path / 'k2'}::{TODAY}",
        "SOGEN_ENVIRONMENT": "simulator",
    }
    with WalletClient.from_env(env) as client:
        assert [k.version for k in client.keys.versions] == [1, 2]
        assert client.keys[1].expires == later
        assert client.key_version == 2  # by its active_from date
    with WalletClient.from_env({**env, "SOGEN_KEY_VERSION": "1"}) as client:
        assert client.key_version == 1
    with pytest.raises(ConfigurationError, match="keep one"):
        WalletClient.from_env({**env, "SOGEN_SECRET_KEY": KEY_1})


@pytest.mark.parametrize("ring", [",", " ", " , "])
def test_sogen_keys_set_to_no_key_is_refused_not_taken_for_unset(ring: str) -> None:
    """A ring that came out empty (``SOGEN_KEYS=${OLD},${NEW}`` with both unset) is a
    mistake: the library refuses it as the command does, naming the variable, and
    does not fall back on SOGEN_SECRET_KEY.  Empty is unset, for both."""
    env = {"SOGEN_MERCHANT_ID": MERCHANT_ID, "SOGEN_SECRET_KEY": KEY_1,
           "SOGEN_KEY_VERSION": "1", "SOGEN_ENVIRONMENT": "simulator"}  # fmt: skip
    with pytest.raises(ConfigurationError) as caught:
        WalletClient.from_env({**env, "SOGEN_KEYS": ring})
    assert str(caught.value) == (
        "SOGEN_KEYS holds no key: expected VERSION:KEY_FILE[:EXPIRES[:ACTIVE_FROM]], "
        "comma-separated"
    )
    with WalletClient.from_env({**env, "SOGEN_KEYS": ""}) as client:
        assert [k.version for k in client.keys.versions] == [1]


def test_the_active_version_is_the_latest_started_not_the_highest() -> None:
    """docs/keys.md: without an active version named, the version with the latest
    ``active_from`` reached seals, whatever its number (a merchant may date an older
    version back in); on the same day, the higher version."""
    ring = KeyRing([KeyVersion(3, KEY_1, active_from=TODAY - timedelta(days=30)),
                    KeyVersion(2, KEY_2, active_from=TODAY - timedelta(days=1))],
                   today=lambda: TODAY)  # fmt: skip
    assert ring.active.version == 2
    same_day = KeyRing([KeyVersion(3, KEY_1, active_from=TODAY),
                        KeyVersion(2, KEY_2, active_from=TODAY)], today=lambda: TODAY)  # fmt: skip
    assert same_day.active.version == 3


def test_the_async_client_switches_keys_without_a_restart_too() -> None:
    import asyncio

    from sogen_soap import AsyncWalletClient

    async def life(sim: Simulator) -> list[tuple[int | None, bool]]:
        seen = []
        async with AsyncWalletClient(MERCHANT_ID, _ring(active=1), environment=sim.url) as client:
            result = await client.add_card("async", TEST_PAN, "203012")
            seen.append((result.key_version, result.seal_verified))
            client.activate_key(2)
            wallet = await client.get_wallet_data("async")
            seen.append((wallet.key_version, wallet.seal_verified))
        return seen

    with _both_keys() as sim:
        assert asyncio.run(life(sim)) == [(1, True), (2, True)]


def test_a_lone_key_version_dated_ahead_seals_nothing_before_its_day() -> None:
    """docs/keys.md: a version with ``active_from`` seals from that day on.  One alone in
    its ring is no exception: before its day nothing is sealed, and no request leaves."""
    day = date(2027, 3, 1)
    ring = KeyRing([KeyVersion(2, KEY_2, active_from=day)], today=lambda: day - timedelta(1))
    with pytest.raises(ConfigurationError) as caught:
        ring.active  # noqa: B018
    assert str(caught.value) == "no key version is active yet: the first, 2, starts on 2027-03-01"
    on_the_day = KeyRing([KeyVersion(2, KEY_2, active_from=day)], today=lambda: day)
    assert on_the_day.active.version == 2
    with Simulator() as sim:
        with pytest.raises(ConfigurationError, match="no key version is active yet"):
            with _client(sim, ring) as client:
                client.get_wallet_data("w")
        assert sim.requests_seen == 0


@pytest.mark.parametrize("given", [0, -1, "x", "12345678901", 2.5])
def test_a_key_version_outside_the_vendor_s_rule_is_refused_naming_it(given: object) -> None:
    """keyVersion is a whole number from 1 (at most 10 digits): a ring entry with any
    other is refused where it is made, not sent for the service to answer 34."""
    with pytest.raises(InvalidFieldError) as caught:
        KeyVersion(given, "a-secret-key")  # type: ignore[arg-type]
    assert caught.value.field == "keyVersion"
    assert str(caught.value).startswith("key_version (keyVersion): must be ")


def test_a_key_version_given_as_text_is_kept_as_a_number() -> None:
    """A version read from a file or the environment arrives as text: it is kept as
    the number it names, so ``2`` and ``"2"`` are the same version of a ring."""
    entry = KeyVersion("2", "a-secret-key")  # type: ignore[arg-type]
    assert entry.version == 2 and type(entry.version) is int
    assert KeyRing([entry]).active.version == 2
