"""What a site's webhook receives: codes and identifiers, never names or free text."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from services.notifications.domain.messages import Facts


def webhook_payload(*, message_id: str, kind: str, cause_type: str, patient_id: str,
                    site_id: str, occurred_at: datetime, facts: Facts) -> dict[str, Any]:
    return {
        **facts,
        "type": cause_type,
        "kind": kind,
        "message_id": message_id,
        "patient_id": patient_id,
        "site_id": site_id,
        "occurred_at": occurred_at.isoformat(),
    }


def webhook_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and sent."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
