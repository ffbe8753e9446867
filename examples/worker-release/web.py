"""Reports what the worker and the release phase have done."""
import http.server
import os

DATA = os.environ.get("DATA_DIR", "/tmp")


def read(name):
    try:
        with open(os.path.join(DATA, name)) as f:
            return f.read().strip()
    except OSError:
        return "none"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("Hello from the worker app: release=%s ticks=%s\n" % (read("release-stamp") != "none", read("worker-ticks"))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
