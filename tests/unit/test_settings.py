import ssl

import pytest

from services.sessions.settings import SessionsSettings

pytestmark = pytest.mark.unit


def test_plaintext_kafka_by_default() -> None:
    assert SessionsSettings().kafka_client_options() == {"security_protocol": "PLAINTEXT"}


def test_managed_kafka_with_tls_and_scram(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"SECURITY_PROTOCOL": "SASL_SSL", "SASL_MECHANISM": "SCRAM-SHA-512",
                        "SASL_USERNAME": "iopnet", "SASL_PASSWORD": "s3cret"}.items():
        monkeypatch.setenv(f"IOPNET_KAFKA_{name}", value)
    options = SessionsSettings().kafka_client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert (options["sasl_mechanism"], options["sasl_plain_username"],
            options["sasl_plain_password"]) == ("SCRAM-SHA-512", "iopnet", "s3cret")


def test_the_password_stays_out_of_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOPNET_KAFKA_SASL_PASSWORD", "s3cret")
    assert "s3cret" not in repr(SessionsSettings())
