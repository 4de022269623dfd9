"""A small TronGrid client: confirmed incoming TRC20 transfers and one transaction's events.

Only transfers of the configured contract with 6 decimals are returned; everything is
read from confirmed (solidified) blocks, so a transfer seen here will not be rolled back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from vpanel_core.billing.errors import PaymentUnavailable
from vpanel_core.billing.tron import address

USDT_DECIMALS = 6
MAX_PAGES = 50


@dataclass(frozen=True, slots=True)
class Transfer:
    txid: str
    from_address: str
    to_address: str
    contract: str
    amount_micro: int
    block_at: datetime


class TronGrid:
    def __init__(
        self, base_url: str, *, api_key: str = "", timeout: float = 15.0, contract: str
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.contract = contract
        self.timeout = timeout
        self.http = requests.Session()
        if api_key:
            self.http.headers["TRON-PRO-API-KEY"] = api_key

    def close(self) -> None:
        self.http.close()

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.http.get(self.base_url + path, params=params, timeout=self.timeout)
            response.raise_for_status()
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            # The exception text names the URL, never the API key (it is a header).
            raise PaymentUnavailable(f"TronGrid is not answering: {type(exc).__name__}") from exc
        if not isinstance(body, dict):
            raise PaymentUnavailable("TronGrid answered something that is not an object")
        return body

    def incoming_transfers(self, to: str, since: datetime) -> Iterator[Transfer]:
        """Confirmed transfers of our token to `to` since `since`, following fingerprints."""
        params: dict[str, Any] = {
            "only_to": "true",
            "only_confirmed": "true",
            "contract_address": self.contract,
            "min_timestamp": int(since.timestamp() * 1000),
            "limit": 200,
        }
        for _page in range(MAX_PAGES):
            body = self._get(f"/v1/accounts/{to}/transactions/trc20", params)
            for item in body.get("data") or []:
                transfer = self._from_listing(item)
                if transfer is not None and transfer.to_address == to:
                    yield transfer
            fingerprint = (body.get("meta") or {}).get("fingerprint")
            if not fingerprint:
                return
            params["fingerprint"] = fingerprint

    def _from_listing(self, item: dict[str, Any]) -> Transfer | None:
        token = item.get("token_info") or {}
        if token.get("address") != self.contract or int(token.get("decimals", -1)) != 6:
            return None
        if item.get("type") != "Transfer":
            return None
        return Transfer(
            txid=str(item["transaction_id"]),
            from_address=str(item.get("from", "")),
            to_address=str(item.get("to", "")),
            contract=self.contract,
            amount_micro=int(item["value"]),
            block_at=datetime.fromtimestamp(int(item["block_timestamp"]) / 1000, UTC),
        )

    def confirmed_transfers(self, txid: str) -> list[Transfer]:
        """The token's Transfer events in one confirmed transaction ([] if unconfirmed)."""
        body = self._get(f"/v1/transactions/{txid}/events", {"only_confirmed": "true"})
        found = []
        for event in body.get("data") or []:
            result = event.get("result") or {}
            if event.get("event_name") != "Transfer" or event.get("contract_address") != (
                self.contract
            ):
                continue
            found.append(
                Transfer(
                    txid=txid,
                    from_address=address.from_hex(str(result.get("from", ""))),
                    to_address=address.from_hex(str(result.get("to", ""))),
                    contract=self.contract,
                    amount_micro=int(result.get("value", 0)),
                    block_at=datetime.fromtimestamp(int(event["block_timestamp"]) / 1000, UTC),
                )
            )
        return found
