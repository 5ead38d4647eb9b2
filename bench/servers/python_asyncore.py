# Python's own asyncore echo server, written as its documentation teaches.
# poll() is used because select() cannot watch more than 1024 descriptors
# (the idle and map-scaling workloads open 10,000 connections).
import json
import os
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)
import asyncore  # noqa: E402
import socket  # noqa: E402


class EchoHandler(asyncore.dispatcher_with_send):
    def handle_read(self):
        data = self.recv(65536)
        if data:
            self.send(data)


class EchoServer(asyncore.dispatcher):
    def __init__(self):
        asyncore.dispatcher.__init__(self)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(("127.0.0.1", 0))
        self.listen(4096)

    def handle_accepted(self, sock, addr):
        EchoHandler(sock)


server = EchoServer()
sys.stdout.write(json.dumps({"port": server.socket.getsockname()[1], "pid": os.getpid()}) + "\n")
sys.stdout.flush()
asyncore.loop(timeout=30, use_poll=True)
