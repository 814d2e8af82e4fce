"""The Python client's whole wallet life against the Java peer (interop/java/run.sh)."""

from __future__ import annotations

import sys

from sogen_soap import WalletClient


def main(url: str) -> int:
    with WalletClient("002001000000001", "002001000000001_KEY1", 1, environment=url) as client:
        first = client.add_card("py-wallet", "4100000000000000", "203012", payment_mean_alias="py")
        assert first.ok and first.seal_verified and first.masked_pan == "4100##########00", first
        second = client.add_card("py-wallet", "5100000000000000", "203101")
        assert second.ok and second.seal_verified, second
        again = client.add_card("py-wallet", "4100000000000000", "203012", payment_mean_alias="py")
        assert again.duplicate and again.seal_verified, again
        wallet = client.get_wallet_data("py-wallet")
        assert wallet.ok and len(wallet.payment_means) == 2, wallet
        shown = [m.masked_pan for m in wallet.payment_means]
        assert shown == ["4100##########00", "5100##########00"], shown
        mean = client.get_payment_mean_data("py-wallet", first.payment_mean_id or "")
        assert mean.ok and mean.payment_mean and mean.payment_mean.payment_mean_alias == "py"
        assert client.update_payment_mean("py-wallet", first.payment_mean_id or "", "renamed").ok
        assert client.delete_payment_mean("py-wallet", second.payment_mean_id or "").ok
        assert client.sign_off("py-wallet").ok
        gone = client.get_wallet_data("py-wallet")
        assert gone.unknown_wallet and gone.seal_verified, gone
    with WalletClient("002001000000001", "a wrong key", 1, environment=url) as client:
        refused = client.get_wallet_data("py-wallet")
        assert refused.response_code == "34", refused  # the Java peer checked our seal
    print("python client: a whole wallet life against the Java peer, every seal verified")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
