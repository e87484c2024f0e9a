"""Outbound HTTP to untrusted URLs (callbacks, remote audio): every connection checked
where it is made, redirects refused, bytes and time capped.

Create clients here, never a plain ``httpx.Client``, for any URL a client supplied.
"""

from cadenza.net.fetch import Fetched, fetch_to_file
from cadenza.net.policy import (
    AddressRefused,
    Resolver,
    check_addresses,
    check_url,
    literal_address,
    refusal,
    system_resolver,
)
from cadenza.net.transport import (
    SafeAsyncBackend,
    SafeAsyncTransport,
    SafeBackend,
    SafeTransport,
    safe_async_client,
    safe_client,
)
from cadenza.net.webhooks import DeliveryResult, RetryPolicy, deliver, sign, verify

__all__ = [
    "AddressRefused",
    "DeliveryResult",
    "Fetched",
    "Resolver",
    "RetryPolicy",
    "SafeAsyncBackend",
    "SafeAsyncTransport",
    "SafeBackend",
    "SafeTransport",
    "check_addresses",
    "check_url",
    "deliver",
    "fetch_to_file",
    "literal_address",
    "refusal",
    "safe_async_client",
    "safe_client",
    "sign",
    "system_resolver",
    "verify",
]
