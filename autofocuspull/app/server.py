"""The app's HTTP server: the standard library's ``ThreadingHTTPServer`` on 127.0.0.1.

Routes (JSON unless said otherwise)::

    GET  /                        the page (static/index.html); /static/<file> its script and style
    GET  /api/plan                the plan being edited (the plan file's JSON)
    GET  /api/state               clip facts, frame times, speech activity, decisions, edits, status
    GET  /api/status              preview re-render progress of the last edit, full render state
    GET  /api/frame/<k>.jpg       frame k at preview size; /api/preview/<k>.jpg the same rendered
    GET  /media/<path>            a file inside the clip's folder (the full render, exports)
    POST /api/decision            {"t_s", "subject" | "point", "strength"}: add a decision
    POST /api/decision/remove     {"index"}
    POST /api/pull                {"index", "start_s", "end_s"}: drag a pull
    POST /api/aperture            {"f_number", "start_s"?, "end_s"?}
    POST /api/render              render the whole clip at full size into the clip's folder
    POST /api/export              {"to": "otio" | "csv" | "ae" | "resolve", "name"}: into the clip's folder

Refusals (403 with a JSON reason): a ``Host`` that is not this server's loopback address (DNS
rebinding), an ``Origin`` or ``Sec-Fetch-Site: cross-site`` from another site, a POST that is not
``application/json`` (a cross-site form can't send it without a preflight, which is never
granted), and any path that resolves outside the clip's folder (``..``, absolute paths, links).
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from autofocuspull.core.errors import AutofocusError, UsageError

log = logging.getLogger(__name__)

STATIC_FILES = ("index.html", "app.js", "app.css")
MAX_BODY_BYTES = 1 << 16
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
EXPORT_FORMATS = ("otio", "csv", "ae", "resolve")


class RefusedError(Exception):
    """A request refused with an HTTP status and a reason."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def inside_folder(folder: Path, rel: str) -> Path:
    """``folder / rel`` resolved (links followed), refused unless it stays inside ``folder``."""
    rel = unquote(rel)
    if not rel or rel.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", rel) or "\x00" in rel:
        raise RefusedError(HTTPStatus.FORBIDDEN, f"{rel!r}: only paths inside the clip's folder are served")
    p = (folder / rel).resolve()
    if not p.is_relative_to(folder.resolve()):
        raise RefusedError(HTTPStatus.FORBIDDEN, f"{rel!r}: outside the clip's folder")
    return p


class AppServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, session: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.session = session
        super().__init__((host, port), Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def allowed_hosts(self) -> set[str]:
        return {f"{n}:{self.port}" for n in LOOPBACK_NAMES}

    def allowed_origins(self) -> set[str]:
        return {f"http://{h}" for h in self.allowed_hosts()}

    def serve_in_thread(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, name="app-server", daemon=True)
        t.start()
        return t


class Handler(BaseHTTPRequestHandler):
    server: AppServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # ---- checks -----------------------------------------------------------------------------

    def _check_origin(self, post: bool) -> None:
        host = self.headers.get("Host", "")
        if host not in self.server.allowed_hosts():
            raise RefusedError(
                HTTPStatus.FORBIDDEN, f"Host {host!r} refused: the app answers on {self.server.url}"
            )
        origin = self.headers.get("Origin")
        if origin is not None and origin not in self.server.allowed_origins():
            raise RefusedError(HTTPStatus.FORBIDDEN, f"Origin {origin!r} refused: requests from other sites")
        if self.headers.get("Sec-Fetch-Site") == "cross-site":
            raise RefusedError(HTTPStatus.FORBIDDEN, "cross-site request refused")
        if post and self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise RefusedError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "POST bodies must be application/json")

    def _body(self) -> dict[str, Any]:
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY_BYTES:
            raise RefusedError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
        try:
            data = json.loads(self.rfile.read(n) or b"{}")
        except json.JSONDecodeError as e:
            raise RefusedError(HTTPStatus.BAD_REQUEST, f"body is not JSON ({e.msg})") from None
        if not isinstance(data, dict):
            raise RefusedError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        return data

    # ---- responses --------------------------------------------------------------------------

    def _send(self, status: HTTPStatus, body: bytes, ctype: str, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'self'; img-src 'self' blob:")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _guard(self, fn, post: bool) -> None:
        try:
            self._check_origin(post)
            fn()
        except (BrokenPipeError, ConnectionResetError):  # the browser went away mid-answer
            self.close_connection = True
        except RefusedError as e:
            self._json({"error": e.reason}, e.status)
        except (AutofocusError, ValueError, KeyError, TypeError) as e:
            self._json({"error": str(e)}, HTTPStatus.BAD_REQUEST)
        except OSError as e:  # e.g. a read-only clip folder for an export
            self._json({"error": f"{e.filename or ''}: {e.strerror or e}"}, HTTPStatus.CONFLICT)
        except Exception as e:  # one failed request must not stop the server
            log.exception("request failed")
            self._json({"error": f"{e.__class__.__name__}: {e}"}, HTTPStatus.INTERNAL_SERVER_ERROR)

    def do_GET(self) -> None:
        self._guard(self._get, post=False)

    do_HEAD = do_GET  # noqa: N815 (the stdlib names handlers do_<METHOD>)

    def do_POST(self) -> None:
        self._guard(self._post, post=True)

    def do_OPTIONS(self) -> None:  # CORS preflight: never granted
        self._guard(lambda: self._json({"error": "cross-origin requests are not allowed"},
                                       HTTPStatus.FORBIDDEN), post=False)  # fmt: skip

    # ---- routes -----------------------------------------------------------------------------

    def _get(self) -> None:
        s = self.server.session
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            return self._static("index.html")
        if path.startswith("/static/"):
            return self._static(path[len("/static/") :])
        if path == "/api/plan":
            from autofocuspull.plan import plan_to_dict

            with s.lock:
                return self._json(plan_to_dict(s.plan))
        if path == "/api/state":
            return self._json(s.state())
        if path == "/api/status":
            return self._json(s.status())
        m = re.fullmatch(r"/api/(frame|preview)/(\d+)\.jpg", path)
        if m:
            k = int(m.group(2))
            body = s.source_jpeg(k) if m.group(1) == "frame" else s.preview_jpeg(k)
            return self._send(HTTPStatus.OK, body, "image/jpeg", cache=m.group(1) == "frame")
        if path.startswith("/media/"):
            f = inside_folder(s.folder, path[len("/media/") :])
            if not f.is_file():
                raise RefusedError(HTTPStatus.NOT_FOUND, f"{f.name}: no such file in the clip's folder")
            ctype = mimetypes.guess_type(f.name)[0] or "application/octet-stream"
            return self._send(HTTPStatus.OK, f.read_bytes(), ctype)
        raise RefusedError(HTTPStatus.NOT_FOUND, f"{path}: no such page")

    def _static(self, name: str) -> None:
        if name not in STATIC_FILES:
            raise RefusedError(HTTPStatus.NOT_FOUND, f"{name}: no such file")
        body = resources.files("autofocuspull.app").joinpath("static", name).read_bytes()
        ctype = {"html": "text/html", "js": "text/javascript", "css": "text/css"}[name.rsplit(".", 1)[1]]
        self._send(HTTPStatus.OK, body, f"{ctype}; charset=utf-8")

    def _post(self) -> None:
        s = self.server.session
        path = urlsplit(self.path).path
        body = self._body()
        if path == "/api/decision":
            point = body.get("point")
            span = s.add_decision(float(body["t_s"]), _opt_int(body.get("subject")),
                                  tuple(float(v) for v in point) if point else None,
                                  str(body.get("strength", "strong")))  # fmt: skip
        elif path == "/api/decision/remove":
            span = s.remove_decision(int(body["index"]))
        elif path == "/api/pull":
            span = s.retime(int(body["index"]), float(body["start_s"]), float(body["end_s"]))
        elif path == "/api/aperture":
            end = body.get("end_s")
            span = s.set_aperture(float(body["f_number"]), float(body.get("start_s", 0.0)),
                                  None if end is None else float(end))  # fmt: skip
        elif path == "/api/render":
            out = s.start_full_render()
            return self._json({"started": True, "path": out.name, "url": f"/media/{out.name}"})
        elif path == "/api/export":
            return self._json(self._export(body))
        else:
            raise RefusedError(HTTPStatus.NOT_FOUND, f"{path}: no such action")
        self._json({"span": list(span), "version": s.version})

    def _export(self, body: dict[str, Any]) -> dict[str, Any]:
        from autofocuspull.export import FORMATS, export_ae, export_csv, export_otio, export_resolve

        s = self.server.session
        fmt, name = str(body.get("to", "")), str(body.get("name", ""))
        if fmt not in EXPORT_FORMATS:
            raise UsageError(f"to: expected one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
        out = inside_folder(s.folder, name)
        if out.suffix.lower() not in (FORMATS[fmt][1] or ()):
            raise UsageError(f"{name}: --to {fmt} expects a file ending in {', '.join(FORMATS[fmt][1])}")
        writer = {"otio": export_otio, "csv": export_csv, "ae": export_ae, "resolve": export_resolve}[fmt]
        with s.lock:
            writer(s.plan, out)
        rel = out.relative_to(s.folder.resolve()).as_posix()
        return {"path": rel, "url": f"/media/{rel}"}


def _opt_int(v: Any) -> int | None:
    if v is None or v == -1:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise UsageError(f"subject: expected a subject id or null, got {v!r}")
    return v
