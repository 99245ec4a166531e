"""Sends a MySQL SSLRequest and the TLS ClientHello in one write (as PyMySQL and mysql2 may
when both land in one segment) and completes the TLS handshake with the door.

Usage: tls_coalesced_check.py PORT. Prints the TLS version on success; exits non-zero with
what went wrong otherwise."""
import socket
import ssl
import struct
import sys

port = int(sys.argv[1])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
sock = socket.create_connection(("127.0.0.1", port), timeout=10)
greeting = sock.recv(4096)
if len(greeting) < 5 or greeting[4] != 10:
    sys.exit(f"no protocol-10 greeting: {greeting!r}")
# CLIENT_SSL | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH
body = struct.pack("<IIB23s", 0x0800 | 0x0200 | 0x8000 | 0x80000, 1 << 24, 45, b"")
sock.sendall(struct.pack("<I", len(body))[:3] + b"\x01" + body + outgoing.read())
while True:
    try:
        tls.do_handshake()
        break
    except ssl.SSLWantReadError:
        data = outgoing.read()
        if data:
            sock.sendall(data)
        chunk = sock.recv(65536)
        if not chunk:
            sys.exit("the door closed the connection during the TLS handshake")
        incoming.write(chunk)
data = outgoing.read()
if data:
    sock.sendall(data)
print(tls.version())
