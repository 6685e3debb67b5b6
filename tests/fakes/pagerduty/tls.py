"""A throwaway self-signed certificate for the PagerDuty fake's HTTPS (the client refuses http://).

``openssl`` makes it (the ``cryptography`` package is not in the lock): a P-256 key and a
certificate valid for ``127.0.0.1`` and ``localhost`` for two days. Being self-signed, the
certificate is its own CA: a client trusts it with ``ssl.create_default_context(cafile=cert)``.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path


def make_self_signed(directory: Path) -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` into ``directory``; return their paths."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the PagerDuty fake needs the `openssl` binary to make its certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    argv = [
        openssl,
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(cert),
        "-days",
        "2",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl could not make a certificate: {result.stderr.strip()}")
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def client_context(cert: Path) -> ssl.SSLContext:
    """What a client passes as ``verify=``: trusts this certificate and nothing else."""
    return ssl.create_default_context(cafile=str(cert))
