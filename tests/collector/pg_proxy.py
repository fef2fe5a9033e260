"""A TCP relay in front of a real PostgreSQL that can hold a COPY at the server's first answer.

Tests point the collector at ``proxy.url(dbname)`` instead of the server.
Bytes pass through unchanged; the server-to-client direction is read as
PostgreSQL protocol messages (a type byte and a length), so :meth:`hold_copy`
can stop it at the next ``CopyInResponse`` (``G``): the server is then inside
``COPY ... FROM STDIN`` waiting for rows, and ``pg_stat_activity`` shows the
COPY as the active statement, for as long as the test likes.  That is how a
test cancels a statement or lets a statement timeout fire *mid-COPY* without
racing a few milliseconds of real work.  Connections use ``sslmode=disable``
so the stream is plain protocol messages from its first byte.
"""

from __future__ import annotations

import socket
import struct
import threading

from tests.conftest import free_port

__all__ = ["PgProxy"]


class PgProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.held = threading.Event()  # set while a CopyInResponse is being held
        self._arm = threading.Event()
        self._release = threading.Event()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._sockets: list[socket.socket] = []
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, dbname: str) -> str:
        return (f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"
                "?sslmode=disable&gssencmode=disable")

    def hold_copy(self) -> None:
        """Hold the next CopyInResponse (from any connection) until :meth:`release`."""
        self._release.clear()
        self.held.clear()
        self._arm.set()

    def release(self) -> None:
        self._arm.clear()
        self._release.set()

    def close(self) -> None:
        self._stopped = True
        self.release()
        self._server.close()
        for s in self._sockets:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump_messages, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _shut(src, dst)

    def _pump_messages(self, src: socket.socket, dst: socket.socket) -> None:
        buffer = b""
        try:
            while data := src.recv(65536):
                buffer += data
                while len(buffer) >= 5:
                    (length,) = struct.unpack("!I", buffer[1:5])
                    if len(buffer) < 1 + length:
                        break
                    message, buffer = buffer[:1 + length], buffer[1 + length:]
                    if message[:1] == b"G" and self._arm.is_set():
                        self._arm.clear()
                        self.held.set()
                        self._release.wait(60)
                        self.held.clear()
                    dst.sendall(message)
        except OSError:
            pass
        finally:
            _shut(src, dst)


def _shut(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
