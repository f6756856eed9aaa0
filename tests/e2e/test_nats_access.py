"""A NATS that asks who we are: a token, an NKey, mutual TLS. `vibehq doctor` names
what is missing; `vibehq serve` publishes through a server that demands all of it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import nkeys
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from nats.js.api import DeliverPolicy

from infrastructure.embedded.common import free_port
from infrastructure.embedded.engines import Engines
from infrastructure.embedded.nats import nats_server_binary
from infrastructure.fanout.connection import NatsAccess
from tests.conftest import ROOT
from tests.e2e.test_cli import vibehq
from tests.e2e.test_service import serving

pytestmark = pytest.mark.timeout(120)

TOKEN = "s3cret-nats-token-4d1e"


def _server(folder: Path, config: str) -> Iterator[str]:
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "nats.conf"
    conf.write_text(
        f'listen: "127.0.0.1:{port}"\njetstream {{ store_dir: "{folder / "store"}" }}\n{config}'
    )
    process = subprocess.Popen(
        [str(nats_server_binary()), "--config", str(conf)],
        stdout=(folder / "log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def token_nats(tmp_path: Path) -> Iterator[str]:
    yield from _server(tmp_path / "token", f'authorization {{ token: "{TOKEN}" }}\n')


class Pki:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as files."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vibehq test CA")])
        ca = (
            self._builder(ca_name, ca_name, ca_key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        self.ca = self._write("ca.pem", ca.public_bytes(serialization.Encoding.PEM))
        self.server_cert, self.server_key = self._leaf("server", ca, ca_key, server=True)
        self.client_cert, self.client_key = self._leaf("client", ca, ca_key, server=False)

    @staticmethod
    def _builder(subject: x509.Name, issuer: x509.Name, key: object) -> x509.CertificateBuilder:
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
        )

    def _leaf(
        self, name: str, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, *, server: bool
    ) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = self._builder(subject, ca.subject, key.public_key())
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return (
            self._write(f"{name}.pem", cert.public_bytes(serialization.Encoding.PEM)),
            self._write(f"{name}-key.pem", key_pem),
        )

    def _write(self, name: str, data: bytes) -> str:
        path = self.folder / name
        path.write_bytes(data)
        return str(path)


def test_doctor_says_which_credential_is_missing_and_never_prints_the_token(
    database_url: str, token_nats: str
) -> None:
    env = {"VIBEHQ_DATABASE_URL": database_url, "VIBEHQ_NATS_URL": token_nats}
    refused = vibehq("doctor", env=env)
    assert refused.returncode == 1
    assert "[FAIL] nats        unreachable: " in refused.stdout
    assert "authorization" in refused.stdout.lower()
    assert "VIBEHQ_NATS_TOKEN" in refused.stdout  # the fix names the settings
    wrong_file = vibehq("doctor", env={**env, "VIBEHQ_NATS_NKEY": "/nonexistent/user.nk"})
    assert wrong_file.returncode == 1
    assert "VIBEHQ_NATS_NKEY=/nonexistent/user.nk: No such file" in wrong_file.stdout
    admitted = vibehq("doctor", env={**env, "VIBEHQ_NATS_TOKEN": TOKEN})
    assert admitted.returncode == 0, admitted.stdout + admitted.stderr
    assert "[ok  ] nats" in admitted.stdout
    shown = vibehq("settings", env={**env, "VIBEHQ_NATS_TOKEN": TOKEN})
    for result in (refused, admitted, shown):
        assert TOKEN not in result.stdout + result.stderr


async def test_serve_publishes_through_mutual_tls_with_an_nkey(
    tmp_path: Path, engines: Engines, database_url: str
) -> None:
    pki = Pki(tmp_path / "pki")
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    user = nkeys.from_seed(bytearray(seed)).public_key.decode()
    seed_file = tmp_path / "user.nk"
    seed_file.write_bytes(seed)
    seed_file.chmod(0o600)
    config = (
        f'tls {{ cert_file: "{pki.server_cert}", key_file: "{pki.server_key}", '
        f'ca_file: "{pki.ca}", verify: true }}\n'
        f'authorization {{ users = [ {{ nkey: "{user}" }} ] }}\n'
    )
    access = NatsAccess(
        nkey=str(seed_file), tls_ca=pki.ca, tls_cert=pki.client_cert, tls_key=pki.client_key
    )
    for url in _server(tmp_path / "mtls", config):
        env = {
            **os.environ,
            "VIBEHQ_DATABASE_URL": database_url,
            "VIBEHQ_NATS_URL": url.replace("nats://", "tls://"),
            "VIBEHQ_NATS_NKEY": str(seed_file),
            "VIBEHQ_NATS_TLS_CA": pki.ca,
            "VIBEHQ_NATS_TLS_CERT": pki.client_cert,
            "VIBEHQ_NATS_TLS_KEY": pki.client_key,
        }
        # Without its client certificate, vibehq is turned away.
        no_cert = {k: v for k, v in env.items() if not k.startswith("VIBEHQ_NATS_TLS_C")}
        no_cert.pop("VIBEHQ_NATS_TLS_KEY")
        refused = vibehq("doctor", env=no_cert)
        assert refused.returncode == 1
        assert "[FAIL] nats" in refused.stdout
        token = vibehq("tokens", "create", "--actor", "ui-factory", env=env).stdout.strip()
        auth = {"Authorization": f"Bearer {token}"}
        with serving(env, ROOT) as base:
            async with httpx.AsyncClient(base_url=base, headers=auth) as http:
                created = await http.post("/workspaces", json={"name": "over-tls"})
                assert created.status_code == 201, created.text
                assert (await http.get("/ready")).json()["status"] == "ready"
            # The relay publishes it over TLS as the NKey user: read it back the same way.
            client = await nats.connect(url.replace("nats://", "tls://"), **access.options())
            try:
                subject = f"vibehq.events.workspace.{created.json()['id']}.>"
                feed = await client.jetstream().subscribe(
                    subject, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
                )
                message = await feed.next_msg(timeout=20)
            finally:
                await client.close()
        assert message.subject.endswith(".Created"), message.subject


def test_a_user_and_password_in_the_url_are_used_and_never_printed(
    database_url: str, tmp_path: Path
) -> None:
    password = "pa55-" + os.urandom(6).hex()
    config = f'authorization {{ users = [ {{ user: "vibehq", password: "{password}" }} ] }}\n'
    for url in _server(tmp_path / "userpass", config):
        with_user = url.replace("nats://", f"nats://vibehq:{password}@")
        env = {"VIBEHQ_DATABASE_URL": database_url, "VIBEHQ_NATS_URL": with_user}
        admitted = vibehq("doctor", env=env)
        wrong = vibehq(
            "doctor", env={**env, "VIBEHQ_NATS_URL": url.replace("nats://", "nats://vibehq:x@")}
        )
        shown = vibehq("settings", env=env)
    assert admitted.returncode == 0, admitted.stdout + admitted.stderr
    assert "[ok  ] nats" in admitted.stdout
    assert wrong.returncode == 1
    assert "authorization" in wrong.stdout.lower()
    assert "nats://vibehq:***@" in shown.stdout
    for result in (admitted, wrong, shown):
        assert password not in result.stdout + result.stderr
