"""Write an rtt driver in Python (standard library only).

A driver carries rtt's plans to the systems that run agents. It speaks
protocol 1 (SPEC section 8, docs/drivers.md) over stdin and stdout. This
module holds the whole protocol -- line framing with the 1 MiB cap, the
envelopes, fencing by epoch, granted hosts and capabilities, durable
two-phase transactions -- so a driver only says how to stage, commit, abort
and read placements on its own system (a backend, like DirBackend below):

    import rtt_driver
    root = rtt_driver.root_from_env("my-driver")
    raise SystemExit(rtt_driver.run(rtt_driver.Driver("my-driver", root, rtt_driver.DirBackend(root))))

The same engine exists in every SDK; sdk/vectors holds the exchanges all of
them answer alike. Checks run in one order: parameters parse (bad_request),
a Tx has a session (not_open), the epoch is not below the highest seen
(stale_epoch; a higher one is made durable first), the capability and hosts
were granted (capability_denied), then the transaction's state decides.
"""
import json
import os
import re
import sys

PROTOCOL = 1
MAX_LINE = 1 << 20
PLACEMENTS_WRITE = "placements.write"
JOURNAL_DIR = ".rtt-driver"
METHODS = ("Probe", "Open", "Tx", "Rx", "Health", "Close")
_SAFE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


class Refusal(Exception):
    """A protocol error: a snake_case code and a message for people."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class FramingError(Exception):
    """The input broke the framing (a line over 1 MiB); the session ends."""


# --- durable files -----------------------------------------------------------

def sync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_synced(path, data):
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_atomic(path, data):
    directory, name = os.path.split(path)
    temp = os.path.join(directory, f".{name}.tmp.{os.getpid()}")
    write_synced(temp, data)
    os.rename(temp, path)
    sync_dir(directory or ".")


def read_json(path):
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except FileNotFoundError:
        return None


def _dump(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- parameters --------------------------------------------------------------

def _bad(message):
    return Refusal("bad_request", message)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _string(params, key):
    value = params.get(key)
    if not isinstance(value, str):
        raise _bad(f"`{key}` must be a string")
    return value


def _epoch(params):
    value = params.get("epoch")
    if not _is_int(value) or value < 0:
        raise _bad("`epoch` must be a non-negative integer")
    return value


def _strings(params, key):
    value = params.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"`{key}` must be an array of strings")
    return list(value)


def safe_name(what, name):
    if not isinstance(name, str) or not _SAFE.fullmatch(name):
        raise _bad(f"{what} {name!r} is not a safe name ([A-Za-z0-9_-][A-Za-z0-9._-]{{0,127}})")
    return name


def _placements(params):
    hosts = params.get("hosts")
    if not isinstance(hosts, dict):
        raise _bad("`hosts` must be an object")
    out = {}
    for host, rows in hosts.items():
        safe_name("host", host)
        if not isinstance(rows, list):
            raise _bad(f"placements of {host} must be an array")
        placements = []
        for row in rows:
            ok = (isinstance(row, dict) and isinstance(row.get("agent"), str)
                  and _is_int(row.get("numa")) and 0 <= row["numa"] < 2**32
                  and _is_int(row.get("replicas")) and 0 <= row["replicas"] < 2**32)
            if not ok:
                raise _bad(f'a placement of {host} must be {{"agent": string, "numa": integer >= 0, "replicas": integer >= 0}}')
            placements.append({"agent": row["agent"], "numa": row["numa"], "replicas": row["replicas"]})
        out[host] = placements
    return out


def _sorted(placements):
    return sorted(placements, key=lambda p: (p["agent"], p["numa"], p["replicas"]))


# --- backends ----------------------------------------------------------------

class DirBackend:
    """Placements as files, in the layout of rtt's built-in dir driver:
    <root>/<host>/placements.json holds {"plan", "placements"}; prepare
    stages placements.json.<txn> beside it, commit renames it into place.
    Start from it, or replace it with calls to your own system. Every method
    may be called again for the same transaction after a crash."""

    capabilities = [PLACEMENTS_WRITE]

    def __init__(self, root):
        self.root = root

    def _staged(self, host, txn):
        return os.path.join(self.root, host, f"placements.json.{txn}")

    def stage(self, txn, plan, hosts):
        """Stage durably, apply nothing. Return None (yes) or a reason (no)."""
        for host, placements in hosts.items():
            directory = os.path.join(self.root, host)
            if not os.path.isdir(directory):
                os.makedirs(directory)
                sync_dir(self.root)
            write_synced(self._staged(host, txn), (_dump({"plan": plan, "placements": placements}) + "\n").encode())
            sync_dir(directory)
        return None

    def commit(self, txn, hosts):
        for host in hosts:
            staged = self._staged(host, txn)
            if os.path.exists(staged):  # gone: renamed by a commit that crashed before its record
                os.rename(staged, os.path.join(self.root, host, "placements.json"))
                sync_dir(os.path.join(self.root, host))

    def abort(self, txn, hosts):
        for host in hosts:
            staged = self._staged(host, txn)
            if os.path.exists(staged):
                os.remove(staged)
                sync_dir(os.path.join(self.root, host))

    def read(self, host):
        current = read_json(os.path.join(self.root, host, "placements.json"))
        return current["placements"] if current else []

    def healthy(self):
        return os.path.isdir(self.root)


# --- the engine --------------------------------------------------------------

class Driver:
    """A protocol-1 driver: fencing, grants and the transaction journal
    (<root>/.rtt-driver/: epoch.json, txns/<txn>.json with state preparing,
    prepared, committed or aborted) over a backend."""

    def __init__(self, name, root, backend):
        self.name = name
        self.backend = backend
        self.journal = os.path.join(root, JOURNAL_DIR)
        os.makedirs(os.path.join(self.journal, "txns"), exist_ok=True)
        self.epoch = (read_json(os.path.join(self.journal, "epoch.json")) or {"epoch": 0})["epoch"]
        self.session = None

    def _fence(self, epoch):
        if epoch < self.epoch:
            raise Refusal("stale_epoch", f"epoch {epoch} is below {self.epoch}: a newer coordinator has taken over")
        if epoch > self.epoch:
            write_atomic(os.path.join(self.journal, "epoch.json"), (_dump({"epoch": epoch}) + "\n").encode())
            self.epoch = epoch

    def _record_path(self, txn):
        return os.path.join(self.journal, "txns", f"{txn}.json")

    def _save(self, txn, record):
        write_atomic(self._record_path(txn), (_dump(record) + "\n").encode())

    def handle(self, method, params):
        """Answers one request: a result dict, or raises Refusal."""
        if method == "Probe":
            return {"protocol": PROTOCOL, "name": self.name,
                    "capabilities": list(getattr(self.backend, "capabilities", [PLACEMENTS_WRITE])), "epoch": self.epoch}
        if method == "Open":
            plan, epoch = _string(params, "plan"), _epoch(params)
            capabilities = _strings(params, "capabilities")
            hosts = [safe_name("host", h) for h in _strings(params, "hosts")]
            self._fence(epoch)
            self.session = {"plan": plan, "capabilities": capabilities, "hosts": hosts}
            return {}
        if method == "Tx":
            return self._tx(params)
        if method == "Rx":
            hosts = [safe_name("host", h) for h in _strings(params, "hosts")]
            if self.session is not None:
                for host in hosts:
                    if host not in self.session["hosts"]:
                        raise Refusal("capability_denied", f"host `{host}` was not granted")
            return {"hosts": {host: _sorted(self.backend.read(host)) for host in hosts}}
        if method == "Health":
            healthy = getattr(self.backend, "healthy", None)
            answer = {"ok": bool(healthy()) if healthy else True}
            # Telemetry (docs/telemetry.md): a backend may report route latency
            # seen since the last Health, as {"routes": [...], "queue_depth": n}.
            telemetry = getattr(self.backend, "telemetry", None)
            if telemetry:
                extra = telemetry() or {}
                if extra.get("routes"):
                    answer["routes"] = extra["routes"]
                if extra.get("queue_depth") is not None:
                    answer["queue_depth"] = extra["queue_depth"]
            return answer
        return {}  # Close

    def _tx(self, params):
        phase, epoch = _string(params, "phase"), _epoch(params)
        txn = safe_name("txn", _string(params, "txn"))
        if phase not in ("prepare", "commit", "abort"):
            raise _bad(f'`phase` must be "prepare", "commit" or "abort", not {phase!r}')
        hosts = _placements(params) if phase == "prepare" else None
        if self.session is None:
            raise Refusal("not_open", "Tx before Open")
        self._fence(epoch)
        if PLACEMENTS_WRITE not in self.session["capabilities"]:
            raise Refusal("capability_denied", f"`{PLACEMENTS_WRITE}` was not granted")
        record = read_json(self._record_path(txn))
        if phase == "prepare":
            return self._prepare(txn, hosts, record)
        if phase == "commit":
            return self._commit(txn, record)
        return self._abort(txn, record)

    def _prepare(self, txn, hosts, record):
        for host in hosts:
            if host not in self.session["hosts"]:
                raise Refusal("capability_denied", f"host `{host}` was not granted")
        state = record["state"] if record else None
        if state == "prepared":
            return {"vote": "yes"}
        if state in ("committed", "aborted"):
            raise Refusal("txn_conflict", f"transaction {txn} is already {state}")
        record = {"state": "preparing", "plan": self.session["plan"], "hosts": sorted(hosts)}
        self._save(txn, record)
        reason = self.backend.stage(txn, self.session["plan"], {h: _sorted(p) for h, p in sorted(hosts.items())})
        if reason is not None:
            return {"vote": "no", "reason": str(reason)}
        record["state"] = "prepared"
        self._save(txn, record)
        return {"vote": "yes"}

    def _commit(self, txn, record):
        if record is None or record["state"] == "preparing":
            raise Refusal("unknown_txn", f"transaction {txn} was never prepared here")
        if record["state"] == "committed":
            return {}
        if record["state"] == "aborted":
            raise Refusal("txn_conflict", f"transaction {txn} was aborted")
        self.backend.commit(txn, record["hosts"])
        record["state"] = "committed"
        self._save(txn, record)
        return {}

    def _abort(self, txn, record):
        # Never prepared here: record the abort, so a late prepare cannot stage.
        record = record or {"state": "preparing", "plan": "", "hosts": []}
        if record["state"] == "aborted":
            return {}
        if record["state"] == "committed":
            raise Refusal("txn_conflict", f"transaction {txn} was committed")
        self.backend.abort(txn, record["hosts"])
        record["state"] = "aborted"
        self._save(txn, record)
        return {}


# --- the envelope and the loop -----------------------------------------------

def respond(driver, line):
    """The response to one request line (a dict) and whether it was Close."""
    def refuse(request_id, code, message):
        return {"id": request_id, "result": None, "error": {"code": code, "message": message}}, False
    try:
        request = json.loads(line)
    except ValueError as e:
        return refuse("", "bad_request", f"not JSON: {e}")
    if not isinstance(request, dict):
        return refuse("", "bad_request", "a request must be a JSON object")
    request_id = request.get("id")
    if not isinstance(request_id, str):
        return refuse("", "bad_request", "`id` must be a string")
    method = request.get("method")
    if not isinstance(method, str):
        return refuse(request_id, "bad_request", "`method` must be a string")
    params = request.get("params")
    if not isinstance(params, dict):
        return refuse(request_id, "bad_request", "`params` must be an object")
    if method not in METHODS:
        return refuse(request_id, "unknown_method", f"unknown method {method!r}")
    try:
        return {"id": request_id, "result": driver.handle(method, params), "error": None}, method == "Close"
    except Refusal as refusal:
        return refuse(request_id, refusal.code, refusal.message)
    except OSError as e:
        return refuse(request_id, "internal", str(e))


def serve(driver, stdin, stdout):
    """Serves request lines (bytes from stdin) until Close or end of input.
    Raises FramingError on a line over the cap or not UTF-8."""
    while True:
        line = stdin.readline(MAX_LINE + 1)
        if not line:
            return
        if not line.endswith(b"\n"):
            if len(line) > MAX_LINE:
                raise FramingError(f"request line longer than {MAX_LINE} bytes")
            raise FramingError(f"input ended inside a line ({len(line)} bytes without a newline)")
        try:
            text = line[:-1].decode("utf-8")
        except UnicodeDecodeError as e:
            raise FramingError("request line is not UTF-8") from e
        response, done = respond(driver, text)
        stdout.write((_dump(response) + "\n").encode())
        stdout.flush()
        if done:
            return


def root_from_env(name, argv=None):
    """RTT_DRIVER_ROOT (set by rtt apply and rtt driver test), else --root DIR, else .rtt/drivers/NAME."""
    if os.environ.get("RTT_DRIVER_ROOT"):
        return os.environ["RTT_DRIVER_ROOT"]
    argv = sys.argv if argv is None else argv
    if "--root" in argv[:-1]:
        return argv[argv.index("--root") + 1]
    return os.path.join(".rtt", "drivers", name)


def socket_from_env(argv=None):
    """The Unix socket to listen on instead of stdio: RTT_DRIVER_SOCKET (set by
    rtt driver test --socket), else --socket PATH; None for stdio."""
    if os.environ.get("RTT_DRIVER_SOCKET"):
        return os.environ["RTT_DRIVER_SOCKET"]
    argv = sys.argv if argv is None else argv
    if "--socket" in argv[:-1]:
        return argv[argv.index("--socket") + 1]
    return None


def listen(driver, path):
    """A resident driver: listens on a Unix socket and serves one connection
    at a time, each until Close or its end; a connection that breaks the
    framing is dropped. A socket file left by a killed predecessor is
    replaced; one a live driver answers on is not. Runs until stopped."""
    import socket

    if os.path.exists(path):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
            raise OSError(f"another driver listens on {path}")
        except ConnectionRefusedError:
            os.remove(path)
        finally:
            probe.close()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    while True:
        connection, _ = server.accept()
        with connection, connection.makefile("rb") as reader, connection.makefile("wb") as writer:
            try:
                serve(driver, reader, writer)
            except (FramingError, OSError) as e:
                print(f"{driver.name}: dropping a connection: {e}", file=sys.stderr, flush=True)
        driver.session = None


def run(driver):
    """Serves stdin/stdout, or listens on a socket (socket_from_env); returns
    the exit code. Logs go to stderr."""
    path = socket_from_env()
    try:
        if path:
            listen(driver, path)
        serve(driver, sys.stdin.buffer, sys.stdout.buffer)
        return 0
    except FramingError as e:
        print(f"{driver.name}: stopping: {e}", file=sys.stderr, flush=True)
        return 1
    except OSError as e:
        print(f"{driver.name}: cannot listen on {path}: {e}", file=sys.stderr, flush=True)
        return 1
