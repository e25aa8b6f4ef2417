"""The cluster PKI: made once and kept, identities in the subject, and HTTPS that asks for a client certificate."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import aiohttp
import pytest
import yaml

from controlplane.rest import serve_https
from controlplane.rest.serve import server_context
from controlplane.testing import InMemoryApi
from podlab.pki import ADMIN, ClusterPki, Identity

pytestmark = pytest.mark.unit


def test_the_ca_is_made_once_and_private_keys_are_0600(tmp_path: Path) -> None:
    pki = ClusterPki(tmp_path).ensure(["controlplane", "10.1.2.3"])
    ca = pki.ca.cert.read_bytes()
    for key in (pki.ca.key, pki.apiserver.key, pki.admin.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert {"127.0.0.1", "localhost", "controlplane", "10.1.2.3"} <= set(pki.names(pki.apiserver.cert))
    assert pki.identity(pki.admin.cert) == ADMIN == Identity("kubernetes-admin", ("system:masters",))
    ClusterPki(tmp_path).ensure(["controlplane"])
    assert pki.ca.cert.read_bytes() == ca


def test_a_new_name_reissues_the_serving_certificate_under_the_same_ca(tmp_path: Path) -> None:
    pki = ClusterPki(tmp_path).ensure()
    ca, admin = pki.ca.cert.read_bytes(), pki.admin.cert.read_bytes()
    pki.ensure(["new.example"])
    assert "new.example" in pki.names(pki.apiserver.cert)
    assert (pki.ca.cert.read_bytes(), pki.admin.cert.read_bytes()) == (ca, admin)


def test_kubeconfig_names_the_podlab_context_and_embeds_the_admin_credentials(tmp_path: Path) -> None:
    pki = ClusterPki(tmp_path / "pki").ensure()
    path = pki.write_kubeconfig(tmp_path / "kubeconfig", "https://127.0.0.1:6443")
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == "podlab"
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert set(config["users"][0]["user"]) == {"client-certificate-data", "client-key-data"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_https_serves_a_client_the_ca_signed_and_refuses_one_without_a_certificate(tmp_path: Path) -> None:
    pki = ClusterPki(tmp_path).ensure()
    fake = InMemoryApi()
    runner, port = await serve_https(fake.api, "127.0.0.1", 0,
                                     server_context(pki.ca.cert, pki.apiserver.cert, pki.apiserver.key))
    try:
        trusted = ssl.create_default_context(cafile=str(pki.ca.cert))
        admin = ssl.create_default_context(cafile=str(pki.ca.cert))
        admin.load_cert_chain(str(pki.admin.cert), str(pki.admin.key))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"https://127.0.0.1:{port}/api/v1/namespaces", ssl=admin) as reply:
                names = [n["metadata"]["name"] for n in (await reply.json())["items"]]
                assert "default" in names
            with pytest.raises(aiohttp.ClientError):
                async with http.get(f"https://127.0.0.1:{port}/api/v1/namespaces", ssl=trusted) as reply:
                    await reply.read()
            stranger = ClusterPki(tmp_path / "other").ensure()  # a client certificate from another CA
            foreign = ssl.create_default_context(cafile=str(pki.ca.cert))
            foreign.load_cert_chain(str(stranger.admin.cert), str(stranger.admin.key))
            with pytest.raises(aiohttp.ClientError):
                async with http.get(f"https://127.0.0.1:{port}/api/v1/namespaces", ssl=foreign) as reply:
                    await reply.read()
            with pytest.raises(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as reply:
                    await reply.read()
    finally:
        await runner.cleanup()
        await fake.close()
