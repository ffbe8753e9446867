"""A test upstream for the proxy tests. Usage: backend.py PORT NAME

GET /            -> "NAME"
GET /headers     -> the request headers as JSON
GET /connections -> how many TCP connections this backend has accepted
GET /open        -> how many of them are open now (this one included)
GET /slow?s=N    -> answers after N seconds
GET /die         -> sends half a response, then closes the connection
GET /big?mb=N    -> N MiB of body
POST /echo       -> the request body back
GET /ws          -> answers an Upgrade with 101, then echoes raw bytes
GET /chunked     -> "onetwothree" in three chunks, with a trailer
GET /close       -> a body without a length, ended by closing the connection
GET /empty       -> 204 No Content
GET /garbage     -> a response that is not HTTP
GET /hints       -> 103 Early Hints, then "hinted"
GET /text?n=N&type=T&enc=E&chunked=1&etag=X -> N bytes of text as type T (text/plain),
                    labelled Content-Encoding E if given, chunked if asked, with ETag X
GET /drip        -> chunked text: "first", then "released" once /release is asked for
                    (or "late" after 30 s)
GET /release     -> lets the waiting /drip finish
HEAD /           -> the head of GET /
POST /echo       -> "received N" (Content-Length or chunked; Expect: 100-continue answered)
"""
import json
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
NAME = sys.argv[2]
connections = 0
open_connections = 0
inflight = 0
lock = threading.Lock()
released = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        global connections, open_connections
        with lock:
            connections += 1
            open_connections += 1
        super().setup()

    def finish(self):
        global open_connections
        with lock:
            open_connections -= 1
        super().finish()

    def log_message(self, *args):
        pass

    def send_text(self, body, status=200):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Keep-Alive", "timeout=5")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        global inflight
        path, _, query = self.path.partition("?")
        if path == "/headers":
            self.send_text(json.dumps({k.lower(): v for k, v in self.headers.items()}))
        elif path == "/connections":
            self.send_text(str(connections))
        elif path == "/open":
            self.send_text(str(open_connections))
        elif path == "/inflight":
            self.send_text(str(inflight))
        elif path == "/slow":
            with lock:
                inflight += 1
            time.sleep(float(query.split("=")[1]))
            with lock:
                inflight -= 1
            self.send_text(NAME)
        elif path == "/die":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"partial")
            self.wfile.flush()
            self.connection.shutdown(2)
            self.close_connection = True
        elif path == "/big":
            size = int(query.split("=")[1]) * 1024 * 1024
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b"x" * 65536
            sent = 0
            while sent < size:
                self.wfile.write(chunk)
                sent += len(chunk)
        elif path == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.end_headers()
            self.wfile.flush()
            while True:
                data = self.rfile.read1(65536)
                if not data:
                    break
                self.connection.sendall(data)
            self.close_connection = True
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "X-Checksum")
            self.end_headers()
            for word in [b"one", b"two", b"three"]:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(word), word))
            self.wfile.write(b"0\r\nX-Checksum: 11\r\n\r\n")
        elif path == "/close":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil-close")
            self.wfile.flush()
            self.close_connection = True
        elif path == "/empty":
            self.send_response(204)
            self.end_headers()
        elif path == "/hints":
            self.wfile.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
            self.wfile.flush()
            self.send_text("hinted")
        elif path == "/text":
            args = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
            size = int(args.get("n", "5000"))
            data = (b"All work and no play makes Jack a dull boy. " * (size // 44 + 1))[:size]
            self.send_response(200)
            self.send_header("Content-Type", args.get("type", "text/plain").replace("%2F", "/"))
            if "enc" in args:
                self.send_header("Content-Encoding", args["enc"])
            if "etag" in args:
                self.send_header("ETag", '"%s"' % args["etag"])
            if args.get("chunked") == "1":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for start in range(0, size, 1000):
                    piece = data[start:start + 1000]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(size))
                self.end_headers()
                self.wfile.write(data)
        elif path == "/drip":
            released.clear()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"6\r\nfirst\n\r\n")
            self.wfile.flush()
            last = b"released\n" if released.wait(30) else b"late\n"
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(last), last))
        elif path == "/release":
            released.set()
            self.send_text("ok")
        elif path == "/garbage":
            self.wfile.write(b"NOT HTTP AT ALL\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True
        else:
            self.send_text(NAME)

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(NAME)))
        self.end_headers()

    def do_POST(self):
        total = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += len(self.rfile.read(size))
                self.rfile.readline()
        else:
            remaining = int(self.headers.get("Content-Length", "0"))
            while remaining > 0:
                data = self.rfile.read(min(remaining, 65536))
                if not data:
                    break
                total += len(data)
                remaining -= len(data)
        self.send_text("received %d" % total)


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.allow_reuse_address = True
server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("ready %d" % server.server_address[1], flush=True)
server.serve_forever()
