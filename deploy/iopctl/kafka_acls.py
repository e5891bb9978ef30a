"""What each service's principal may do on Kafka, and the admin requests that say so.

A service may WRITE its own topic (intake also the network topic), READ the topics
its consumer subscribes to, and use the consumer groups named after it. Nothing
else: a compromised family pod cannot publish on the network topic.

aiokafka has no admin call for ACLs or SCRAM credentials, so the two Kafka requests
(CreateAcls v1, AlterUserScramCredentials v0) are built here on its protocol layer.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest_v1, DeleteAclsRequest, DescribeAclsRequest
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from iopctl.kafka_principals import Principals, principal_of
from iopnet.topics import SERVICES, network_topic, topic_of

# Kafka's codes (org.apache.kafka.common.acl / resource).
ANY = 1
TOPIC, GROUP = 2, 3
LITERAL, PREFIXED = 3, 4
READ, WRITE, DESCRIBE = 3, 4, 8
ALLOW = 3
_SCRAM_SHA_512 = 2
_ITERATIONS = 8192


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW binding: ``principal`` may ``operation`` on the resource, from any host."""

    principal: str
    resource_type: int
    resource_name: str
    pattern: int
    operation: int


def consumed_services(service: str) -> list[str]:
    """The producers whose topics a service's consumer reads ("network" for the registry)."""
    from iopctl.stack import spec_of  # the services' modules: only where ACLs are made

    projection = spec_of(service).consumer_projection()
    return [topic.split(".")[-2] for topic in (projection.topics if projection else [])]


def _topic(producer: str, within: str) -> str:
    return network_topic(within) if producer == "network" else topic_of(producer, within)


def service_acls(service: str, within: str) -> list[Acl]:
    user = f"User:{principal_of(service)}"
    writes = [topic_of(service, within)] + ([network_topic(within)] if service == "intake" else [])
    reads = [_topic(p, within) for p in consumed_services(service)]
    return sorted({
        *(Acl(user, TOPIC, t, LITERAL, op) for t in writes for op in (WRITE, DESCRIBE)),
        *(Acl(user, TOPIC, t, LITERAL, op) for t in reads for op in (READ, DESCRIBE)),
        # Its groups: the service's name, and the suffixed ones stacks side by side use.
        *(Acl(user, GROUP, service, PREFIXED, op) for op in (READ, DESCRIBE)),
    })


def all_acls(within: str) -> list[Acl]:
    return [acl for service in SERVICES for acl in service_acls(service, within)]


class _CreateAcls(Request[CreateAclsRequest_v1]):  # type: ignore[misc]
    """Many creations in one request (aiokafka's builder sends one)."""

    API_KEY = 30

    def __init__(self, acls: Iterable[Acl]) -> None:
        self.acls = list(acls)

    def build(self, request_struct_class: type[Any]) -> Any:
        return request_struct_class([
            (a.resource_type, a.resource_name, a.pattern, a.principal, "*", a.operation, ALLOW)
            for a in self.acls])


class _AlterScramResponse(Response):  # type: ignore[misc]
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", CompactArray(("user", CompactString("utf-8")), ("error_code", Int16),
                                 ("error_message", CompactString("utf-8")),
                                 ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class _AlterScramStruct(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = _AlterScramResponse
    SCHEMA = Schema(
        ("deletions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8),
                                   ("tags", TaggedFields))),
        ("upsertions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8),
                                    ("iterations", Int32), ("salt", CompactBytes),
                                    ("salted_password", CompactBytes), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class _AlterScram(Request[_AlterScramStruct]):  # type: ignore[misc]
    API_KEY = 51

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def build(self, request_struct_class: type[Any]) -> Any:
        upsertions: list[tuple[Any, ...]] = []
        for name, password in self.users.items():
            salt = os.urandom(32)
            # RFC 5802 Hi(): PBKDF2 with the hash's own output length.
            salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _ITERATIONS)
            upsertions.append((name, _SCRAM_SHA_512, _ITERATIONS, salt, salted, {}))
        return request_struct_class([], upsertions, {})


class KafkaAccessError(RuntimeError):
    """The broker refused to create a principal's credentials or ACLs."""


async def _send(admin: AIOKafkaAdminClient, request: Any) -> Any:
    # aiokafka's admin client keeps its connection private; its own calls use it the same way.
    client = admin._client
    return await client.send(client.get_random_node(), request)


async def upsert_credentials(admin: AIOKafkaAdminClient, principals: Principals) -> None:
    """Each service's SCRAM credential, set to its password (idempotent)."""
    users = {principal_of(s): principals.passwords[s] for s in SERVICES}
    response = await _send(admin, _AlterScram(users))
    failures = [f"{user}: {code} {message}" for user, code, message, _ in response.results if code]
    if failures:
        raise KafkaAccessError("SCRAM credentials refused: " + "; ".join(failures))


async def granted(admin: AIOKafkaAdminClient) -> set[Acl]:
    """The ALLOW bindings the broker enforces now."""
    response = await _send(admin, DescribeAclsRequest(ANY, None, ANY, None, None, ANY, ANY))
    if response.error_code:
        raise KafkaAccessError(f"ACLs not described: {response.error_code} "
                               f"{response.error_message}")
    return {Acl(principal, resource_type, name, pattern, operation)
            for resource_type, name, pattern, bindings in response.resources
            for principal, _, operation, permission in bindings if permission == ALLOW}


async def grant(admin: AIOKafkaAdminClient, acls: list[Acl], timeout_s: float = 30.0) -> None:
    """Create the ACLs (an existing one is kept as it is), and wait until the broker
    enforces them: it learns them from the controller a moment later."""
    response = await _send(admin, _CreateAcls(acls))
    failures = [f"{acl}: {code} {message}"
                for acl, (code, message) in zip(acls, response.creation_responses, strict=True)
                if code]
    if failures:
        raise KafkaAccessError("ACLs refused: " + "; ".join(failures))
    deadline = time.monotonic() + timeout_s
    while missing := set(acls) - await granted(admin):
        if time.monotonic() >= deadline:
            raise KafkaAccessError(f"ACLs not in force after {timeout_s:.0f}s: {sorted(missing)}")
        await asyncio.sleep(0.1)


async def revoke(admin: AIOKafkaAdminClient, topics: Iterable[str]) -> None:
    """Every ACL on these topics, gone (a test namespace's, with its topics)."""
    for topic in topics:
        await _send(admin, DeleteAclsRequest(TOPIC, topic, LITERAL, None, None, ANY, ANY))


async def provision(admin: AIOKafkaAdminClient, principals: Principals, within: str) -> None:
    """The services' credentials, and their ACLs on the topics of namespace ``within``."""
    await upsert_credentials(admin, principals)
    await grant(admin, all_acls(within))
