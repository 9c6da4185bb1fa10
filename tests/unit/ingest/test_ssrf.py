"""The import address policy: what an import may reach, checked on every resolved address."""

from __future__ import annotations

import ipaddress

import pytest

from services.ingest.ssrf import BadImportUrl, ImportRefused, refusal, vet


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),  # the cloud metadata endpoint
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6 hides an IPv4 address
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ],
)
def test_internal_addresses_are_refused(address: str, why: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == why


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x.csv", "gopher://x", "/relative.csv", ""])
async def test_only_http_urls(url: str) -> None:
    with pytest.raises(BadImportUrl, match="only http and https"):
        await vet(url, allow_private=True)


async def test_loopback_refused_unless_allowed() -> None:
    with pytest.raises(ImportRefused, match=r"127\.0\.0\.1, a loopback address"):
        await vet("http://127.0.0.1:8000/data.csv", allow_private=False)
    target = await vet("http://127.0.0.1:8000/data.csv", allow_private=True)
    assert str(target.address) == "127.0.0.1"


async def test_a_name_is_resolved_and_every_address_checked() -> None:
    # `localhost` resolves from /etc/hosts (no network): its addresses are loopback.
    with pytest.raises(ImportRefused, match="loopback"):
        await vet("http://localhost/data.csv", allow_private=False)


async def test_metadata_endpoint_refused() -> None:
    with pytest.raises(ImportRefused, match="link-local"):
        await vet("http://169.254.169.254/latest/meta-data/", allow_private=False)


async def test_connection_is_pinned_to_the_checked_address() -> None:
    target = await vet("https://8.8.8.8:8443/a/b.csv?x=1", allow_private=False)
    assert str(target.pinned_url) == "https://8.8.8.8:8443/a/b.csv?x=1"
    assert target.host_header == "8.8.8.8:8443"
    assert target.extensions == {"sni_hostname": "8.8.8.8"}


async def test_ipv6_literal_is_pinned_with_brackets() -> None:
    target = await vet("http://[2606:4700:4700::1111]/d.csv", allow_private=False)
    assert str(target.pinned_url) == "http://[2606:4700:4700::1111]/d.csv"
    assert target.host_header == "[2606:4700:4700::1111]"
