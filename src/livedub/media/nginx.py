"""Embedded backend: nginx with the RTMP module (Debian ``libnginx-mod-rtmp``) as a child process.

nginx-rtmp announces publishers with form-encoded ``on_publish``/``on_publish_done`` callbacks.
:class:`HookBridge` turns them into exactly the JSON events the MediaMTX hook program sends, so
the orchestrator cannot tell the backends apart. It also decides who may publish (nginx-rtmp
refuses a publisher whose ``on_publish`` is answered with a non-2xx status): anyone on an ingest
path ``live/<id>/in``, the workers' ``live/<id>/out`` only from loopback or the address
``MEDIA_HOST`` resolves to (what this machine's workers connect from), any other path (an invalid
stream id) nobody. A second publisher
of an ingest path that is already published is refused (409) and its events never reach the
orchestrator.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import httpx

from livedub.media.base import HookTarget, MediaServer, MediaServerError, host_addresses
from livedub.media.paths import APPLICATION, InvalidPath, peer_address, stream_id_from_ingest_path
from livedub.proc.child import nofile_limit, port_accepts, spawn, terminate, wait_until

log = logging.getLogger(__name__)

RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")

# What the embedded server is sized for (docs/orchestrator.md "Limits of the embedded server"):
# 4096 connections in all: each stream takes 3 (publisher, worker in and out) plus its viewers.
WORKER_CONNECTIONS = 4096
OPEN_FILES = 2 * WORKER_CONNECTIONS + 64  # a connection's socket, plus nginx's logs, listeners and temp files
PUBLISH_SETTLE_MARGIN_S = 1.0  # after the on_publish answer, until /stat lists the publisher (generous)
HOOK_RETRY_S = 3.0  # how long the bridge retries an orchestrator that does not answer
SOCKET_TIMEOUT = "10s"  # long enough for a worker whose pipeline stalls while its models load

# the only paths that exist: ingest live/<id>/in and the workers' live/<id>/out
_VALID_PATH = re.compile(rf"{APPLICATION}/[A-Za-z0-9_-]{{1,64}}/(in|out)")

# fields nginx-rtmp always sends; anything else came from the publisher's query string
_STANDARD_FIELDS = {"call", "addr", "clientid", "app", "flashver", "swfurl", "tcurl", "pageurl", "name", "type"}

_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
load_module {module};

# sized in NginxMediaServer: clients (publishers, workers, viewers, idle or half-open sockets) and
# nginx's own calls (hooks, /stat) share these connections
events {{ worker_connections {worker_connections}; }}

rtmp {{
    server {{
        listen {rtmp_port};
        chunk_size 4096;
        # a socket that does not finish its handshake (or a viewer that stops reading) within this is
        # dropped: idle connections cannot hold the server's connections for nginx's default minute
        timeout {socket_timeout};
        # how long nginx waits for a hook's answer: the bridge's retries plus the ingest hold
        netcall_timeout {netcall_timeout};
        application {app} {{
            live on;
            record off;
            # keep publishers of live/<id>/in and workers of live/<id>/out flowing in real time
            wait_key on;
            wait_video on;
            # on: a reader may wait on a path before it is published (the worker of a held publisher,
            # a viewer that comes early) and stays when the publisher leaves (it gets
            # NetStream.Play.UnpublishNotify: GStreamer's rtmp2src ends its stream, ffmpeg waits for more).
            # off: like MediaMTX, such a reader is refused, and readers are disconnected when the
            # publisher leaves; no hold is possible then
            idle_streams {idle_streams};
{hls}{hooks}        }}
    }}
}}

http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    server {{
        listen {api_host}:{api_port};
        location /stat {{ rtmp_stat all; }}
        # drop/subscriber: the bridge ends the viewers of an output whose worker stopped publishing
        location /control {{ rtmp_control all; }}
    }}
{hls_server}}}
"""

# HLS for browsers: nginx-rtmp writes <prefix>/hls/<id>/<in|out>/index.m3u8 (1 s fragments) once the
# directory <prefix>/hls/<id> exists (its mkdir is not recursive: the hook bridge makes it on publish)
_HLS = """\
            hls on;
            hls_path {hls_dir};
            hls_nested on;
            hls_fragment 1s;
            hls_playlist_length 6s;
"""
_HLS_SERVER = """\
    server {{
        listen {host}:{port};
        location /hls/ {{
            root {prefix};
            types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
            add_header Cache-Control no-cache;
            add_header Access-Control-Allow-Origin *;
        }}
    }}
"""


def hook_payload(form: dict[str, str], source_prefix: str = "") -> dict[str, str]:
    """nginx-rtmp callback fields -> the MediaMTX hook payload ``{path, query, sourceType, sourceId}``.

    nginx numbers its connections from 1 again after a restart; ``source_prefix`` (one per nginx run)
    keeps a new publisher's ``sourceId`` apart from an ended one's, which the orchestrator remembers.
    """
    name = form.get("name", "")
    extra = [(k, v) for k, v in form.items() if k.lower() not in _STANDARD_FIELDS]
    query = ""
    if "?" in name:  # some clients keep the query inside the stream key
        name, query = name.split("?", 1)
    if extra:
        query = "&".join(filter(None, [query, urlencode(extra)]))
    return {
        "path": f"{form.get('app', APPLICATION)}/{name}",
        "query": query,
        "sourceType": "rtmpConn",
        "sourceId": source_prefix + form.get("clientid", "") if form.get("clientid") else "",
    }


class HookBridge:
    """A loopback HTTP server nginx calls; forwards each ingest event to the orchestrator.

    An orchestrator that does not answer (restarting) is tried again for ``retry_for`` seconds while
    nginx holds the publisher, so a publisher arriving meanwhile is announced once it is back. After
    that the publisher is accepted anyway (ingest never breaks): the orchestrator, once restarted,
    finds it through reconciliation. Retries and the ingest hold stay below
    nginx-rtmp's ``netcall_timeout`` (sized to cover both), after which nginx would drop the
    publisher itself.
    """

    def __init__(self, target: HookTarget, timeout: float = 2.0, worker_addrs: Iterable[str] = (),
                 retry_for: float = 3.0, is_published: Callable[[str], bool] | None = None,
                 readers: Callable[[str], int] | None = None, hold_for: float = 0.0,
                 drop_readers: Callable[[str], int] | None = None,
                 prepare: Callable[[str], None] | None = None) -> None:
        self.target = target
        # called with a valid path before its publisher is answered (the HLS directory of its stream)
        self.prepare = prepare
        # with idle_streams on, nginx keeps an output's viewers connected after its worker stopped
        # publishing (ffmpeg players then wait for ever): ``drop_readers`` ends them
        self.drop_readers = drop_readers
        # held ingest: ``readers`` counts who waits on a path (nginx's /stat); for up to ``hold_for``
        # seconds a new publisher is answered only once one more reader (its worker) waits
        self.readers = readers
        self.hold_for = hold_for
        # nginx's view of a path (``live/<id>/in``), to tell a second publisher from a stale entry
        self.is_published = is_published
        self._publishers: dict[str, str] = {}  # ingest path -> the admitted publisher's sourceId
        self._publishers_lock = threading.Lock()
        self.timeout = timeout
        self.retry_for = retry_for
        self.source_prefix = uuid.uuid4().hex[:8] + "-"
        # besides loopback, the addresses this machine's workers publish from (MEDIA_HOST's)
        self.worker_addrs = frozenset(worker_addrs)
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode("utf-8", "replace"), keep_blank_values=True))
                self.send_response(bridge.handle(self.path, form))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, fmt: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="nginx-hook-bridge", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def handle(self, callback: str, form: dict[str, str]) -> int:
        """One nginx-rtmp callback -> the HTTP status to answer (non-2xx on ``/publish`` refuses the publisher)."""
        payload = hook_payload(form, self.source_prefix)
        if not _VALID_PATH.fullmatch(payload["path"]):
            # ../in, "a b/in", ünï/in, a key nginx cut short: refused at publish time (nginx-rtmp drops a
            # publisher whose on_publish is not answered 2xx), so no event, worker or record exists for it
            if callback.endswith("/publish"):
                log.warning("refused a publisher: the stream key is not <streamId>/in with streamId of "
                            "[A-Za-z0-9_-]{1,64}", extra={"path": ascii(payload["path"][:80])})
                return 400
            return 200
        if callback.endswith("/publish") and self.prepare is not None:
            self.prepare(payload["path"])
        if payload["path"].endswith("/in"):
            if callback.endswith("/publish"):
                if not self._admit(payload["path"], payload["sourceId"]):
                    return 409
                waiting = self._count_readers(payload["path"])
                answer = self.forward(callback, payload)
                if answer is not None and answer.status_code == 403:  # a missing or wrong publish key
                    return 403
                if _starts_worker(answer):
                    self._hold(payload["path"], waiting)
                return 200  # otherwise always: bad settings or a busy orchestrator never break ingest
            if self._ended(payload["path"], payload["sourceId"]):
                self.forward(callback, payload)
            return 200  # a refused second publisher left: the stream's publisher is still there
        # our own outputs (live/<id>/out) fire the same callbacks; only local workers may publish them
        addr = form.get("addr", "")
        if callback.endswith("/publish") and not (_is_loopback(addr) or addr in self.worker_addrs):
            log.warning("refused a publisher from another machine on a non-ingest path",
                        extra={"path": payload["path"], "addr": addr[:64]})
            return 403
        if callback.endswith("/publish_done") and self.drop_readers is not None:
            threading.Thread(target=self._end_readers, args=(payload["path"],), name="nginx-drop-readers",
                             daemon=True).start()
        return 200

    def _end_readers(self, path: str) -> None:
        """The viewers of an output that stopped: disconnected, as without idle_streams (and on MediaMTX).
        Not while the path is still published: nginx also reports the end of a publisher it refused (one
        from another machine), and that must not cut off the worker's viewers."""
        assert self.drop_readers is not None
        if self._still_published(path):
            return
        try:
            dropped = self.drop_readers(path)
        except httpx.HTTPError as exc:
            log.warning("could not end the viewers of a stopped output", extra={"path": path, "error": str(exc)})
            return
        if dropped:
            log.info("ended the viewers of a stopped output", extra={"path": path, "viewers": dropped})

    def _hold(self, path: str, waiting: int | None) -> None:
        """Keep nginx's publisher waiting (its ``on_publish`` unanswered) until the worker just
        started reads ``path``: nginx-rtmp with ``idle_streams on`` lets a reader wait on a path
        before it is published, so the worker gets the stream from its first keyframe on instead of
        joining at a later one. Bounded by ``hold_for``; past it the publisher goes ahead anyway."""
        if self.hold_for <= 0 or waiting is None:
            return
        began = time.monotonic()
        joined = wait_until(lambda: (self._count_readers(path) or 0) > waiting, self.hold_for)
        held_ms = round((time.monotonic() - began) * 1000)
        if joined:
            log.info("publisher held until its worker read the stream", extra={"path": path, "heldMs": held_ms})
        else:
            log.warning("no worker read the stream within the hold; the publisher goes ahead (the worker "
                        "joins at a later keyframe)", extra={"path": path, "heldMs": held_ms})

    def _count_readers(self, path: str) -> int | None:
        if self.readers is None:
            return None
        try:
            return self.readers(path)
        except (httpx.HTTPError, ET.ParseError):
            return None  # nginx's status page did not answer: nothing to hold on

    def _admit(self, path: str, source_id: str) -> bool:
        """Whether a new publisher of ``path`` may publish. nginx-rtmp asks ``on_publish`` before it
        finds the stream taken ("Already publishing") and calls ``on_publish_done`` for the refused
        one too: left to nginx, the intruder's events would reach the orchestrator as the stream's
        and stop its worker. So a second publisher of a path that nginx says is published is refused
        here, and only the admitted publisher's end is forwarded."""
        with self._publishers_lock:
            current = self._publishers.get(path)
            if current is not None and current != source_id and self._still_published(path):
                log.warning("refused a second publisher on a live stream", extra={"path": path})
                return False
            self._publishers[path] = source_id
            return True

    def _ended(self, path: str, source_id: str) -> bool:
        """An ``on_publish_done``: True when it is the admitted publisher's (then forgotten)."""
        with self._publishers_lock:
            if self._publishers.get(path) != source_id:
                return False
            del self._publishers[path]
            return True

    def _still_published(self, path: str) -> bool:
        if self.is_published is None:
            return True
        try:
            return self.is_published(path)
        except (httpx.HTTPError, ET.ParseError):
            return True  # nginx's own status page did not answer: keep the publisher we know

    def forward(self, callback: str, payload: dict[str, str]) -> httpx.Response | None:
        """POST the event; retried while the orchestrator is unreachable or answers 5xx, for
        ``retry_for`` seconds. The orchestrator's answer (whatever it decided), else None."""
        url = self.target.ready_url if callback.endswith("/publish") else self.target.not_ready_url
        deadline = time.monotonic() + self.retry_for
        pause = 0.1
        while True:
            try:
                response = httpx.post(url, json=payload, headers=self.target.headers(), timeout=self.timeout)
            except httpx.HTTPError as exc:
                problem, status = str(exc), None
            else:
                if response.status_code < 500:
                    if response.status_code >= 300:
                        log.warning("orchestrator refused hook event", extra={"path": payload["path"],
                                    "status": response.status_code, "body": response.text[:200]})
                    return response
                problem, status = response.text[:200], response.status_code
            if time.monotonic() + pause >= deadline:
                log.error("orchestrator unreachable for hook event; reconciliation will catch up",
                          extra={"path": payload["path"], "status": status, "error": problem,
                                 "retriedForSeconds": self.retry_for})
                return None
            time.sleep(pause)  # a retry pause, not synchronisation: nothing to wait on but time
            pause = min(pause * 2, 0.5)


def _starts_worker(answer: httpx.Response | None) -> bool:
    """Whether the orchestrator's answer to a ``ready`` event means a new worker is on its way (not
    a worker kept through a reconnect: it already waits on the path, a hold would only delay it)."""
    if answer is None or answer.status_code != 202:
        return False
    try:
        body = answer.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("result") == "accepted" and body.get("workerStarting") is True


def _is_loopback(addr: str) -> bool:
    ip = peer_address(addr)
    return ip is not None and ip.is_loopback  # missing or not an address: not known to be local


class NginxMediaServer(MediaServer):
    name = "nginx"

    def __init__(self, host: str = "127.0.0.1", rtmp_port: int = 1935, api_port: int = 9997,
                 binary: str = "nginx", prefix: Path | None = None, start_timeout: float = 10.0,
                 idle_streams: bool = True, ingest_hold: float = 0.0, hls_port: int | None = None) -> None:
        super().__init__(host, rtmp_port)
        self.hls_port = hls_port  # None: no HLS (an HTTP listener on host:hls_port serves /hls/)
        if ingest_hold > 0 and not idle_streams:
            raise ValueError("an ingest hold needs idle_streams: the worker must be able to wait on the path")
        self.ingest_hold = ingest_hold
        self.api_port = api_port
        self.binary = binary
        self.start_timeout = start_timeout
        self.idle_streams = idle_streams
        # fewer connections where this machine allows fewer open files (a low hard limit)
        self.worker_connections = max(256, min(WORKER_CONNECTIONS, (nofile_limit(OPEN_FILES) - 64) // 2))
        # the prefix is made on start(): an unstarted instance (an orchestrator that only lists
        # paths and builds URLs) leaves nothing on disk
        self._own_prefix = prefix is None
        self.prefix = Path(prefix) if prefix is not None else Path()
        self._bridge: HookBridge | None = None

    @property
    def publish_settle_s(self) -> float:  # type: ignore[override]
        # the publish hook reaches the orchestrator while nginx waits for the on_publish answer, which
        # the bridge gives up to the hold later; then /stat lists the publisher
        return self.ingest_hold + PUBLISH_SETTLE_MARGIN_S

    @staticmethod
    def available(binary: str = "nginx") -> bool:
        return bool(shutil.which(binary) or Path("/usr/sbin/nginx").exists()) and RTMP_MODULE.exists()

    def config_text(self, hook_url: str | None) -> str:
        hooks = ""
        if hook_url:
            hooks = (f"            on_publish {hook_url}/publish;\n"
                     f"            on_publish_done {hook_url}/publish_done;\n")
        hls = hls_server = ""
        if self.hls_port is not None:
            hls = _HLS.format(hls_dir=self.prefix / "hls")
            hls_server = _HLS_SERVER.format(host=self.host, port=self.hls_port, prefix=self.prefix)
        return _CONF.format(prefix=self.prefix, module=RTMP_MODULE, rtmp_port=self.rtmp_port, app=APPLICATION,
                            worker_connections=self.worker_connections, socket_timeout=SOCKET_TIMEOUT,
                            hooks=hooks, hls=hls, hls_server=hls_server, api_host="127.0.0.1",
                            api_port=self.api_port,
                            netcall_timeout=f"{round(HOOK_RETRY_S + self.ingest_hold + 2)}s",
                            idle_streams="on" if self.idle_streams else "off")

    def start(self, hooks: HookTarget | None) -> None:
        binary = shutil.which(self.binary) or "/usr/sbin/nginx"
        if self._own_prefix:
            self.prefix = Path(tempfile.mkdtemp(prefix="livedub-nginx-"))
        for sub in ("logs", "tmp"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        if hooks is not None:
            self._bridge = HookBridge(hooks, worker_addrs=host_addresses(self.host), is_published=self.path_is_live,
                                      retry_for=HOOK_RETRY_S, readers=self.path_readers, hold_for=self.ingest_hold,
                                      drop_readers=self.drop_readers if self.idle_streams else None,
                                      prepare=self._prepare_hls if self.hls_port is not None else None)
            self._bridge.start()
        conf = self.prefix / "nginx.conf"
        conf.write_text(self.config_text(self._bridge.url if self._bridge else None))
        log_file = (self.prefix / "logs" / "stderr.log").open("wb")
        self._proc = spawn([binary, "-p", str(self.prefix), "-c", str(conf)], stdout=log_file, stderr=log_file,
                           nofile=nofile_limit(OPEN_FILES))
        log_file.close()

        def died() -> str | None:
            if self._proc is not None and self._proc.poll() is not None:
                return f"nginx exited with {self._proc.returncode}: {self._error_log()}"
            return None

        try:
            ok = wait_until(lambda: port_accepts("127.0.0.1", self.rtmp_port)
                            and port_accepts("127.0.0.1", self.api_port), self.start_timeout, abort=died)
        except RuntimeError as exc:
            self.stop()
            raise MediaServerError(str(exc)) from None
        if not ok:
            self.stop()
            raise MediaServerError(f"nginx did not open ports {self.rtmp_port}/{self.api_port} "
                                   f"within {self.start_timeout:g}s: {self._error_log()}")
        log.info("media server started", extra={"backend": self.name, "rtmpPort": self.rtmp_port,
                                                 "statPort": self.api_port, "pid": self._proc.pid})

    def _error_log(self) -> str:
        text = ""
        for name in ("error.log", "stderr.log"):
            path = self.prefix / "logs" / name
            if path.exists():
                text += path.read_text(errors="replace")
        return text.strip()[-500:] or "no log output"

    def _prepare_hls(self, path: str) -> None:
        """The directory nginx-rtmp writes ``live/<id>/...``'s HLS under: ``<prefix>/hls/<id>``."""
        stream_id = path.split("/")[1]
        (self.prefix / "hls" / stream_id).mkdir(parents=True, exist_ok=True)

    def watch_urls(self, stream_id: str) -> dict[str, str]:
        urls = super().watch_urls(stream_id)
        hls = self.hls_media_playlist(stream_id)
        if hls is not None:
            urls["hls"] = hls
        return urls

    def hls_media_playlist(self, stream_id: str) -> str | None:
        """The output's HLS media playlist (MPEG-TS, PTS = RTMP timestamp + hls_muxdelay): what the
        orchestrator's live caption track follows (orchestrator/live_captions.py); None without HLS."""
        if self.hls_port is None:
            return None
        return f"http://{self.host}:{self.hls_port}/hls/{stream_id}/out/index.m3u8"

    def stop(self) -> None:
        if self._proc is not None:
            terminate(self._proc, timeout=5)
            self._proc = None
        if self._bridge is not None:
            self._bridge.stop()
            self._bridge = None
        if self._own_prefix and self.prefix != Path():
            shutil.rmtree(self.prefix, ignore_errors=True)
            self.prefix = Path()

    def stat_xml(self) -> str:
        response = httpx.get(f"http://127.0.0.1:{self.api_port}/stat", timeout=2.0)
        response.raise_for_status()
        return response.text

    def list_live_ingest(self) -> set[str]:
        return parse_stat_ingest(self.stat_xml())

    def path_is_live(self, path: str) -> bool:
        return path.strip("/") in parse_stat_live(self.stat_xml())

    def drop_readers(self, path: str) -> int:
        """Disconnect whoever plays ``path`` (nginx-rtmp's control API); how many were dropped."""
        app, _, name = path.strip("/").partition("/")
        # nginx compares the arguments as sent, undecoded: cam%2Fout would match nothing (the path is
        # a validated live/<id>/out, nothing in it needs encoding)
        response = httpx.get(f"http://127.0.0.1:{self.api_port}/control/drop/subscriber?app={app}&name={name}",
                             timeout=2.0)
        response.raise_for_status()
        text = response.text.strip()
        return int(text) if text.isdigit() else 0

    def path_readers(self, path: str) -> int:
        return parse_stat_readers(self.stat_xml()).get(path.strip("/"), 0)


def parse_stat_live(xml_text: str) -> set[str]:
    """Paths (``live/<key>``) being published according to nginx-rtmp's ``/stat`` XML."""
    root = ET.fromstring(xml_text)
    live: set[str] = set()
    for app in root.iter("application"):
        name = app.findtext("name") or ""
        for stream in app.iter("stream"):
            if stream.find("publishing") is not None:
                live.add(f"{name}/{stream.findtext('name') or ''}")
    return live


def parse_stat_readers(xml_text: str) -> dict[str, int]:
    """Per path, the clients that read it (waiting ones included: ``idle_streams on``), publishers not counted."""
    root = ET.fromstring(xml_text)
    readers: dict[str, int] = {}
    for app in root.iter("application"):
        name = app.findtext("name") or ""
        for stream in app.iter("stream"):
            clients = [c for c in stream.iter("client") if c.find("publishing") is None]
            readers[f"{name}/{stream.findtext('name') or ''}"] = len(clients)
    return readers


def parse_stat_ingest(xml_text: str) -> set[str]:
    """Stream ids being published on ``live/<id>/in`` (valid ids only: nothing else reaches a record)."""
    ids = set()
    for path in parse_stat_live(xml_text):
        try:
            ids.add(stream_id_from_ingest_path(path))
        except InvalidPath:
            continue  # outputs, and anything nginx let through before the bridge refused it
    return ids
