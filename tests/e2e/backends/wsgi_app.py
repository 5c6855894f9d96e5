"""
The gunicorn backend of the proxy tests (Debian's gunicorn, gthread workers, which keep
connections alive; `--keep-alive 2` closes them after 2 s idle and says nothing about
it: no Keep-Alive header). Every request is answered
"gunicorn METHOD TARGET BODYLEN SHA1\\n" once its body is read.
"""
import hashlib


def app(environ, start_response):
    body = environ["wsgi.input"].read()
    target = environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
    out = (f"gunicorn {environ['REQUEST_METHOD']} {target} {len(body)} "
           f"{hashlib.sha1(body).hexdigest()}\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]
