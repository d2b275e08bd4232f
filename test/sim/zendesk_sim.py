#!/usr/bin/python3
"""Zendesk Support API simulator for the corsa_zendesk tests, demo and benchmarks.

    /usr/bin/python3 test/sim/zendesk_sim.py --port-file PATH
        [--host 127.0.0.1] [--port 0] [--seed N] [--quiet]

Serves the Zendesk REST API under /api/v2 and a control API under /_sim on
one HTTP/1.1 port (keep-alive).  After binding, the port number is written to
PATH (atomically).  SIGTERM or SIGINT stops it.  See README.md.

This module holds the HTTP transport: reading requests, the /api pipeline
(request log, latency, authentication, injected faults, the endpoint) and the
connection-level faults (hang, truncate, reset).  The Zendesk behaviour lives
in the sim_* modules.
"""

import argparse
import gc
import http
import http.server
import os
import random
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# pylint: disable=wrong-import-position
from sim_base import (STAFF_ADMIN, STAFF_AGENT, ApiError, Clock, Config, Request,
                      Response)
from sim_control import ControlApi
from sim_desk import Desk
from sim_model import Account
from sim_rest import NO_ENDPOINT, RATE_LIMITED, RestApi
from sim_traffic import FaultTable, RateLimits, RequestLog
from sim_webhooks import WebhookHub


class Simulator:
    """All state of one simulated Zendesk account, guarded by one lock."""

    def __init__(self, seed):
        self.seed = seed
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.clock = Clock()
        self.config = Config()
        self.account = Account()
        self.hub = WebhookHub(self.clock, self.config, self.lock)
        self.desk = Desk(self.account, self.clock, self.config, self.hub)
        self.limits = RateLimits(self.config)
        self.faults = FaultTable()
        self.log = RequestLog()
        self.rest = RestApi(self.account, self.desk, self.clock, self.config, self.limits)
        self.control = ControlApi(self)
        self.rng = None
        self.reset()

    def reset(self):
        """The state right after start: two staff users and nothing else."""
        with self.lock:
            self.rng = random.Random(self.seed)
            self.clock.reset()
            self.config.reset()
            self.account.clear()
            gc.unfreeze()           # seeded objects (see sim_seed) may be collected
            gc.collect()
            self.hub.reset(random.Random(self.rng.getrandbits(64)))
            self.desk.reset(random.Random(self.rng.getrandbits(64)))
            self.limits.reset()
            self.faults.reset()
            self.log.reset()
            self.rest.reset()
            now = self.clock.seconds()
            for staff in (STAFF_ADMIN, STAFF_AGENT):
                user = self.account.add_user(staff["name"], staff["email"], staff["role"], now)
                self.account.api_tokens[staff["token"]] = user.id


def fault_error(fault):
    """The answer of an injected 5xx or 429 fault."""
    if fault.kind == "429":
        return Response.json(429, RATE_LIMITED, [("Retry-After", str(fault.retry_after))])
    try:
        phrase = http.HTTPStatus(fault.status).phrase
    except ValueError:
        phrase = "Server Error"
    headers = []
    if fault.retry_after:
        headers.append(("Retry-After", str(fault.retry_after)))
    return Response.json(fault.status, {"error": phrase.replace(" ", ""),
                                        "description": phrase}, headers)


class Handler(http.server.BaseHTTPRequestHandler):
    """One client connection (kept alive across requests)."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm a
    # kept-alive client's delayed ACK would hold each small answer ~40 ms.
    disable_nagle_algorithm = True
    server_version = "ZendeskSimulator/1.0"
    sys_version = ""

    def do_GET(self):   # pylint: disable=invalid-name (http.server's naming)
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):   # pylint: disable=redefined-builtin
        if not self.server.quiet:
            sys.stderr.write("%s - %s\n" % (self.address_string(), format % args))

    # --- reading and writing ----------------------------------------------------

    def _read_body(self):
        """The request body (Content-Length or chunked)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response, truncate=False):
        """Write a response; with `truncate`, only half the body, then close."""
        body = response.body or b""
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if truncate:
            self.wfile.write(body[:len(body) // 2])
            self.close_connection = True
        else:
            self.wfile.write(body)

    def _abort(self):
        """Close the connection with a TCP RST, sending nothing."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.rfile.close()
        self.connection.close()

    def _hang(self, seconds):
        """Send nothing for `seconds`, or until the client goes away."""
        deadline = time.monotonic() + seconds
        stopping = self.server.sim.stopping
        while not stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.2))
            if readable:
                try:
                    if not self.connection.recv(65536):
                        break
                except OSError:
                    break
        self.close_connection = True

    # --- dispatch -------------------------------------------------------------------

    def _handle(self):
        sim = self.server.sim
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(Response.json(400, {"error": "bad request body"}))
            return
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        req = Request(self.command, self.path, self.headers, body,
                      self.client_address[0], "http://" + host)
        if req.path == "/_sim" or req.path.startswith("/_sim/"):
            with sim.lock:
                response = self._guarded(lambda: sim.control.handle(req))
            self._send(response)
        elif req.path.startswith("/api/"):
            self._api(req)
        else:
            self._send(Response.json(404, NO_ENDPOINT))

    def _guarded(self, produce):
        """Run an endpoint; an unexpected exception becomes a 500."""
        try:
            return produce()
        except Exception:   # pylint: disable=broad-except
            traceback.print_exc()
            return Response.json(500, {"error": "InternalServerError",
                                       "description": "simulator bug, see its log"})

    def _api(self, req):
        """The /api pipeline: log, latency, auth, faults, endpoint, answer."""
        sim = self.server.sim
        started = time.monotonic()
        entry, user, fault, response = self._admit(req)
        kind = fault.kind if fault else None
        status = None
        if kind == "delay":
            time.sleep(fault.delay_ms / 1000.0)
        if kind == "hang":
            self._hang(fault.hang_seconds)
        elif kind == "reset":
            self._abort()
        else:
            response = self._respond(req, user, fault, response, entry)
            if kind == "apply_then_drop":
                self._abort()
            else:
                # in the log before the client can read the answer and look
                status = response.status
                with sim.lock:
                    entry["status"] = status
                self._send(response, truncate=kind == "truncate")
        # every branch's status (the sent one again), with the duration
        with sim.lock:
            entry["status"] = status
            entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)

    def _admit(self, req):
        """Log the request, wait the configured latency, authenticate and pick
        a fault.  Returns (log entry, user, fault, early response or None)."""
        sim = self.server.sim
        with sim.lock:
            now = sim.clock.now()
            entry = sim.log.start(now, req, sim.limits.violated(now))
            latency = sim.config["latency_ms"]
        if latency:
            time.sleep(latency / 1000.0)
        with sim.lock:
            try:
                user = sim.rest.authenticate(req)
            except ApiError as exc:
                return entry, None, None, exc.response()
            entry["user_id"] = user.id if user else None
            fault = sim.faults.pick(req.method, req.path)
            entry["fault"] = fault.kind if fault else None
        return entry, user, fault, None

    def _respond(self, req, user, fault, response, entry):
        """The answer (an injected error or the endpoint's), with rate headers;
        records a Retry-After deadline when the client will see one."""
        sim = self.server.sim
        kind = fault.kind if fault else None
        with sim.lock:
            if response is None:
                if kind in ("5xx", "429"):
                    response = fault_error(fault)
                else:
                    response = self._guarded(lambda: sim.rest.serve(req, user))
            if response.header("X-Rate-Limit") is None:
                response.headers.extend(sim.rest.rate_headers())
            entry["rate_limited"] = response.rate_limited
            entry["idempotency_lookup"] = response.header("x-idempotency-lookup")
            if kind != "apply_then_drop" and response.header("Retry-After"):
                sim.limits.note_retry_after(sim.clock.now(),
                                            int(response.header("Retry-After")))
        return response


class SimServer(http.server.ThreadingHTTPServer):
    """Threaded HTTP server; connection threads never block shutdown."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address, sim, quiet):
        self.sim = sim
        self.quiet = quiet
        super().__init__(address, Handler)


def write_port_file(path, port):
    """Write the port number atomically (temporary file, then rename)."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % port)
    os.rename(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Zendesk Support API simulator")
    parser.add_argument("--port-file", required=True,
                        help="write the bound port number to this file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--seed", type=int, default=1, help="seed of all randomness")
    parser.add_argument("--quiet", action="store_true", help="no per-request log lines")
    args = parser.parse_args(argv)

    sim = Simulator(args.seed)
    server = SimServer((args.host, args.port), sim, args.quiet)
    stop = threading.Event()

    def on_signal(signum, frame):   # pylint: disable=unused-argument
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="http-server", daemon=True)
    thread.start()
    write_port_file(args.port_file, server.server_address[1])
    if not args.quiet:
        sys.stderr.write("zendesk simulator listening on %s:%d\n" % server.server_address[:2])
    while not stop.wait(0.5):
        pass
    sim.stopping.set()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
