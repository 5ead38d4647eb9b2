# Python's own asynchat line echo, written as its documentation teaches: a
# terminator, collect_incoming_data() gathering the line, found_terminator()
# pushing the reply. The framing benchmark's reference, and the peer of the
# interop test (test/framing/python-asynchat.test.ts), which passes
#   --terminator HEX   the terminator's bytes (default 0a: one line)
#   --chunk N          send replies N bytes per send() call, with TCP_NODELAY
# poll() is used because select() cannot watch more than 1024 descriptors.
import json
import os
import socket
import sys
import warnings

warnings.simplefilter("ignore")  # asynchat and asyncore are deprecated in 3.11
import asynchat  # noqa: E402
import asyncore  # noqa: E402


def option(name, default):
    args = sys.argv[1:]
    return args[args.index(name) + 1] if name in args else default


TERMINATOR = bytes.fromhex(option("--terminator", "0a"))
CHUNK = int(option("--chunk", "0"))


class LineEcho(asynchat.async_chat):
    def __init__(self, sock):
        asynchat.async_chat.__init__(self, sock)
        self.set_terminator(TERMINATOR)
        self.parts = []
        if CHUNK > 0:
            self.ac_out_buffer_size = CHUNK
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def collect_incoming_data(self, data):
        self.parts.append(data)

    def found_terminator(self):
        line = b"".join(self.parts)
        self.parts = []
        self.push(line + TERMINATOR)


class Server(asyncore.dispatcher):
    def __init__(self):
        asyncore.dispatcher.__init__(self)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(("127.0.0.1", 0))
        self.listen(4096)

    def handle_accepted(self, sock, addr):
        LineEcho(sock)


server = Server()
sys.stdout.write(json.dumps({"port": server.socket.getsockname()[1], "pid": os.getpid()}) + "\n")
sys.stdout.flush()
asyncore.loop(timeout=30, use_poll=True)
