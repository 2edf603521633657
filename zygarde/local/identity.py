"""The local cloud's identity tokens: an RSA signing key made at `zygarde local up`, its self-signed
certificate served as Google serves its own (https://www.googleapis.com/oauth2/v1/certs: key id ->
PEM certificate), and RS256 tokens shaped as Google's (iss, aud, sub, email, email_verified, iat, exp),
so that the functions verify them with the same code as on Google Cloud. Tests use it too, with a key
made in memory (`TokenIssuer.generate`)."""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

KEY_FILE, CERT_FILE = "key.pem", "cert.pem"
TOKEN_SECONDS = 3600  # as Google's


@dataclass(frozen=True)
class TokenIssuer:
    """Mints tokens as `issuer` with one RSA key; `certs()` is what its certs URL serves."""

    issuer: str
    private_pem: bytes
    cert_pem: bytes

    @property
    def key_id(self) -> str:
        return hashlib.sha1(self.cert_pem).hexdigest()

    def certs(self) -> dict[str, str]:
        return {self.key_id: self.cert_pem.decode()}

    def mint(self, user: str, audience: str, lifetime: float = TOKEN_SECONDS, issued_at: float | None = None,
             **claims) -> str:
        """A signed identity token for the e-mail `user` and `audience` (`claims` override the usual ones;
        None drops one)."""
        from google.auth import crypt, jwt

        iat = int(time.time() if issued_at is None else issued_at)
        payload = {"iss": self.issuer, "aud": audience, "sub": hashlib.sha256(user.encode()).hexdigest()[:21],
                   "email": user, "email_verified": True, "iat": iat, "exp": iat + int(lifetime), **claims}
        payload = {k: v for k, v in payload.items() if v is not None}
        signer = crypt.RSASigner.from_string(self.private_pem, key_id=self.key_id)
        return jwt.encode(signer, payload).decode()

    @classmethod
    def generate(cls, issuer: str) -> "TokenIssuer":
        """A new key and its self-signed certificate, in memory."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "zygarde local token issuer")])
        now = datetime.now(timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                .not_valid_after(now + timedelta(days=3650)).sign(key, hashes.SHA256()))
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return cls(issuer, private, cert.public_bytes(serialization.Encoding.PEM))

    @classmethod
    def load_or_create(cls, folder: Path, issuer: str) -> "TokenIssuer":
        """The key kept in `folder` (made there, readable by its owner only, if missing)."""
        folder = Path(folder)
        key_path, cert_path = folder / KEY_FILE, folder / CERT_FILE
        if not (key_path.exists() and cert_path.exists()):
            made = cls.generate(issuer)
            folder.mkdir(parents=True, exist_ok=True)
            key_path.touch(mode=0o600)
            key_path.write_bytes(made.private_pem)
            cert_path.write_bytes(made.cert_pem)
        return cls(issuer, key_path.read_bytes(), cert_path.read_bytes())
