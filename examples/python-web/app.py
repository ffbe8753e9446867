"""A WSGI app served by gunicorn (installed from the package index by the Python buildpack)."""
import os


def app(environ, start_response):
    body = ("Hello from Python on dokkulite (%s)\n" % os.environ.get("DYNO", "?")).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
