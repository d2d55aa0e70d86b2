#!/usr/bin/python3
# An HTTP/2 client (h2c, prior knowledge) that sends one GET, waits, resets the
# stream with RST_STREAM(CANCEL), and keeps the connection open until its
# stdin closes: the request must end because of the reset, not of a close.
#
#   h2_reset.py PORT PATH WAIT_SECONDS [NAME VALUE]...
import socket
import sys
import time

import h2.config
import h2.connection
import h2.errors

port, path, wait = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
extra = sys.argv[4:]

sock = socket.create_connection(('127.0.0.1', port))
conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
conn.initiate_connection()
sock.sendall(conn.data_to_send())

headers = [(':method', 'GET'), (':path', path), (':scheme', 'http'), (':authority', 'localhost')]
headers += [(extra[i].lower(), extra[i + 1]) for i in range(0, len(extra), 2)]
stream = conn.get_next_available_stream_id()
conn.send_headers(stream, headers, end_stream=True)
sock.sendall(conn.data_to_send())


def pump(seconds):
    # answer the server's SETTINGS and PINGs while waiting
    sock.settimeout(0.05)
    until = time.time() + seconds
    while time.time() < until:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        if not data:
            return
        conn.receive_data(data)
        out = conn.data_to_send()
        if out:
            sock.sendall(out)


pump(wait)
conn.reset_stream(stream, error_code=h2.errors.ErrorCodes.CANCEL)
sock.sendall(conn.data_to_send())

sys.stdin.read()
sock.close()
