#!/usr/bin/env python3
"""The driver of `make bench-chaos`: 20,000 punches of ten companies through several overlapping
imports, two sync-service replicas and a faulty Bayzat simulator, while processes are killed and
the broker and the database restart. Runs against its own Postgres cluster and RabbitMQ node, so
it may restart both. Prints one `bench-chaos:` line on stdout, everything else on stderr.

  chaos.py WORK_DIR RELEASE_DIR     (SEED=n for a given run; otherwise a random seed is printed)

Every random choice (when and what is killed, the simulator's fault draws) comes from the seed.
What the line counts, against the simulator's ledger (the punches Bayzat holds):
  delivered      expected punches the ledger holds
  rejected       expected punches sync-service shows `rejected`
  lost           punches that should be delivered and are not in the ledger
  doubled        punches the ledger holds twice, plus resends of a punch after sync-service had
                 recorded Bayzat's 200 for it (the simulator refuses repeats; a Bayzat that did not
                 would have held these twice)
  stuck          expected punches neither delivered, rejected nor in a visible waiting state
                 (retry_wait, failed, paused, held, scheduled): no delivery at all, or still
                 pending/sending when everything settled
  dead_lettered  messages in the broker's dead-letter queue
  kills          SIGKILLs and SIGTERMs sent to services
  http_429       429s the simulator's own rate limit gave (not the injected ones)
  min_gap_ms, max_records   the simulator's shortest gap between two counted requests of a key,
                 and the largest request
  ideal_s        the busiest key's requests at the simulator's interval, with no faults
"""
import glob
import heapq
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import bridge_http  # noqa: E402 - found through the line above

INTERVAL_MS = 50
HOLD_MS = 1500
SETTLE_CAP_S = float(os.environ.get("CHAOS_SETTLE_S", "420"))
# Roughly one request in five of every key meets a fault.
FAULTS = {"p_timeout": 0.03, "p_500": 0.05, "p_success_false": 0.02, "p_429": 0.04,
          "p_accept_then_500": 0.03, "p_slow_accept": 0.03, "hold_ms": HOLD_MS, "retry_after_s": 1}
WAITING_STATES = {"retry_wait", "failed", "paused", "held", "scheduled"}

T0 = time.monotonic()


def log(message):
    print(f"bench-chaos: [{time.monotonic() - T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def make_credentials(release):
    """Fresh Ed25519 keys for this run: each signer's private key (the portal's only for the
    commands that mint people's tokens) and BRIDGE_TRUSTED_KEYS, which every process gets."""
    keys, trusted = {}, []
    for signer in ("portal", "sync-service", "import-service"):
        out = subprocess.run([f"{release}/config-service", "generate-key", "--kid", f"chaos-{signer}",
                              "--signer", signer], check=True, capture_output=True, text=True).stdout
        lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
        keys[signer] = lines["private"]
        trusted.append(lines["trusted"])
    keys["trusted"] = ",".join(trusted)
    return keys


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=10):
    """(status, bytes); status 0 when the connection failed. A 429 of the services is waited out
    (bridge_http); one that lasts past its limit comes back as 429."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None and not request.has_header("Content-type"):
        request.add_header("Content-Type", "application/json")
    try:
        with bridge_http.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except bridge_http.RateLimited as error:
        return 429, str(error).encode()
    except (OSError, urllib.error.URLError):
        return 0, b""


def get_json(url):
    status, body = http("GET", url)
    if status != 200:
        raise RuntimeError(f"GET {url} answered {status}")
    return json.loads(body)


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - anything short of success means "not yet"
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready within {timeout} s")


class Service:
    """A process the driver starts, kills and restarts; its output is appended to one log."""

    def __init__(self, name, argv, env, work):
        self.name, self.argv, self.env = name, argv, env
        self.log_path = f"{work}/logs/{name}.log"
        self.proc = None
        self.expected_down = False
        self.unexpected_exits = 0

    def start(self):
        with open(self.log_path, "ab") as out:
            out.write(f"---- start at {time.strftime('%H:%M:%S')}\n".encode())
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.expected_down = False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.expected_down = True
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Postgres:
    """A cluster of its own in WORK/pg, run as the postgres user when the driver is root."""

    def __init__(self, work):
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: [int(x) for x in p.split("/")[4].split(".") if x.isdigit()])
        self.bin = os.environ.get("CHAOS_PG_BIN") or (versions[-1] if versions else "")
        self.dir = f"{work}/pg"
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def run(self, *argv, check=True):
        return subprocess.run(self.as_user + list(argv), check=check, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)

    def init(self):
        os.makedirs(self.dir)
        if self.as_user:
            subprocess.run(["chown", "postgres", self.dir], check=True)
        self.run(f"{self.bin}/initdb", "-D", f"{self.dir}/data", "-U", "postgres", "--auth=trust", "-E", "UTF8",
                 "--no-sync")
        self.start()
        subprocess.run(self.psql_argv("postgres") + ["-c", "CREATE DATABASE bridge"], check=True,
                       stdout=subprocess.DEVNULL)

    def start(self):
        self.run(f"{self.bin}/pg_ctl", "-D", f"{self.dir}/data", "-l", f"{self.dir}/log", "-w", "-o",
                 f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                 "start")

    def stop(self, mode="fast"):
        self.run(f"{self.bin}/pg_ctl", "-D", f"{self.dir}/data", "-m", mode, "-w", "stop", check=False)

    def psql_argv(self, database="bridge"):
        return ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database, "-qAt",
                "-v", "ON_ERROR_STOP=1", "-F", "\t"]

    def query(self, sql):
        out = subprocess.run(self.psql_argv(), input=sql, capture_output=True, text=True, check=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]


class Rabbit:
    """A RabbitMQ node of its own: own node name, ports, data and log folders, no plugins."""

    def __init__(self, work):
        sbins = sorted(glob.glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin"))
        self.sbin = os.environ.get("CHAOS_RABBITMQ_SBIN") or (sbins[-1] if sbins else "/usr/lib/rabbitmq/bin")
        self.dir = f"{work}/rabbitmq"
        self.port = free_port()
        self.node = f"chaos{os.getpid()}@localhost"
        self.env = dict(os.environ, HOME=f"{self.dir}/home", RABBITMQ_NODENAME=self.node,
                        RABBITMQ_NODE_IP_ADDRESS="127.0.0.1", RABBITMQ_NODE_PORT=str(self.port),
                        RABBITMQ_DIST_PORT=str(free_port()), RABBITMQ_MNESIA_BASE=f"{self.dir}/mnesia",
                        RABBITMQ_LOG_BASE=f"{self.dir}/log", RABBITMQ_CONFIG_FILE=f"{self.dir}/rabbitmq.conf",
                        RABBITMQ_CONF_ENV_FILE=f"{self.dir}/rabbitmq-env.conf",
                        RABBITMQ_ENABLED_PLUGINS_FILE=f"{self.dir}/enabled_plugins",
                        RABBITMQ_PID_FILE=f"{self.dir}/pid", ERL_EPMD_ADDRESS="127.0.0.1")
        self.proc = None

    def init(self):
        for sub in ("home", "mnesia", "log"):
            os.makedirs(f"{self.dir}/{sub}")
        with open(f"{self.dir}/rabbitmq.conf", "w") as f:
            f.write(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
        open(f"{self.dir}/rabbitmq-env.conf", "w").close()
        with open(f"{self.dir}/enabled_plugins", "w") as f:
            f.write("[].\n")
        self.start()

    def ctl(self, *args, timeout=120):
        return subprocess.run([f"{self.sbin}/rabbitmqctl", "-n", self.node, *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def start(self):
        with open(f"{self.dir}/server.log", "ab") as out:
            self.proc = subprocess.Popen([f"{self.sbin}/rabbitmq-server"], env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)
        # await_startup fails at once while the node has not registered with epmd yet.
        deadline = time.monotonic() + 90
        while True:
            result = self.ctl("await_startup", "--timeout", "60")
            if result.returncode == 0:
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ node {self.node} did not start: {result.stderr[-500:]}")
            time.sleep(0.5)

    def stop(self):
        if self.proc is None:
            return
        try:
            self.ctl("shutdown", timeout=60)
        except subprocess.TimeoutExpired:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc = None

    def queues(self):
        out = self.ctl("-q", "list_queues", "name", "messages", "consumers", timeout=30).stdout
        rows = [line.split("\t") for line in out.splitlines() if "\t" in line]
        return {r[0]: (int(r[1]), int(r[2])) for r in rows if len(r) >= 3 and r[1].isdigit()}


class Bench:
    def __init__(self, work, release, seed):
        self.work, self.release, self.seed = work, release, seed
        self.rng = random.Random(seed)
        self.pg = Postgres(work)
        self.mq = Rabbit(work)
        self.services = {}
        self.kills = {"SIGKILL": 0, "SIGTERM": 0}
        self.broker_restarts = 0
        self.db_restarts = 0
        self.busy = set()  # restarts in progress, each in its own thread
        self.busy_lock = threading.Lock()
        self.events = []  # heap of (at, order, name, action)
        self.order = itertools.count()
        self.notes = []
        with open(f"{work}/expected.json") as f:
            self.expected = json.load(f)
        self.keys = dict(self.expected["keys"])  # company slug -> current Bayzat key

    # ---- setup -------------------------------------------------------------------------------

    def env(self, **extra):
        if not hasattr(self, "credentials"):
            self.credentials = make_credentials(self.release)
        env = dict(os.environ)
        env.update({
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{self.pg.port}/bridge",
            "AMQP_URL": f"amqp://guest:guest@127.0.0.1:{self.mq.port}/%2f",
            "AMQP_NAMESPACE": "chaos.",
            "BRIDGE_TRUSTED_KEYS": self.credentials["trusted"],
            "BRIDGE_MASTER_KEYS": "bench:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=",
            "RUST_LOG": os.environ.get("CHAOS_RUST_LOG", "info"),
            # Company keys may only be sent to the simulator.
            "BAYZAT_ALLOWED_API_URLS": getattr(self, "sim", ""),
        })
        env.update(extra)
        return env

    def add(self, name, binary, **extra):
        self.services[name] = Service(name, [f"{self.release}/{binary}"], self.env(**extra), self.work)

    def setup(self):
        os.makedirs(f"{self.work}/logs")
        log(f"own Postgres on port {self.pg.port}, own RabbitMQ node {self.mq.node} on port {self.mq.port}")
        self.pg.init()
        self.mq.init()
        self.credentials = make_credentials(self.release)
        ports = {name: free_port() for name in ("sim", "config", "import", "sync-a", "sync-b")}
        self.sim = f"http://127.0.0.1:{ports['sim']}"
        self.config_url = f"http://127.0.0.1:{ports['config']}"
        self.import_url = f"http://127.0.0.1:{ports['import']}"
        self.services["sim"] = Service("sim", [f"{self.release}/bayzat-sim", "--bind", f"127.0.0.1:{ports['sim']}",
                                               "--load", f"{self.work}/directory.json", "--interval-ms",
                                               str(INTERVAL_MS), "--max-records", "20", "--workers", "2"],
                                       self.env(RUST_LOG="warn"), self.work)
        config_internal = f"127.0.0.1:{free_port()}"
        self.add("config", "config-service", CONFIG_SERVICE_BIND=f"127.0.0.1:{ports['config']}",
                 CONFIG_SERVICE_INTERNAL_BIND=config_internal)
        common = {"CONFIG_SERVICE_URL": self.config_url}
        self.add("import", "import-service", IMPORT_SERVICE_BIND=f"127.0.0.1:{ports['import']}",
                 IMPORT_STORAGE_DIR=f"{self.work}/files",
                 BRIDGE_SIGNING_KEY=self.credentials["import-service"], **common)
        sync = dict(common, CONFIG_SERVICE_INTERNAL_URL=f"http://{config_internal}",
                    BRIDGE_SIGNING_KEY=self.credentials["sync-service"],
                    BAYZAT_RATE_LIMIT_DELAY=str(INTERVAL_MS / 1000), BAYZAT_HTTP_TIMEOUT="1",
                    BAYZAT_RETRY_SCHEDULE="1s,2s,3s,5s", BAYZAT_MAX_RETRY_ATTEMPTS="12", SYNC_LEASE_TTL="5")
        for name in ("sync-a", "sync-b"):
            self.add(name, "sync-service", SYNC_SERVICE_BIND=f"127.0.0.1:{ports[name]}", **sync)
        self.ready = {name: f"http://127.0.0.1:{port}/readyz" for name, port in ports.items() if name != "sim"}
        self.ready["sim"] = f"{self.sim}/__admin/stats"
        for name in ("sim", "config"):
            self.services[name].start()
            self.wait_ready(name)
        env = self.env(BRIDGE_PORTAL_SIGNING_KEY=self.credentials["portal"])
        subprocess.run([f"{self.release}/config-service", "load-directory", f"{self.work}/directory.json", "--url",
                        self.config_url, "--api-url", f"{self.sim}/attendance"], env=env, check=True,
                       stdout=subprocess.DEVNULL)

        def token(role):
            return subprocess.run([f"{self.release}/config-service", "mint-token", "--sub", "bench-chaos", "--role",
                                   role, "--ttl", "3600"], env=env, check=True, capture_output=True,
                                  text=True).stdout.strip()

        self.operator, self.admin = token("operator"), token("admin")
        for i, key in enumerate(self.keys.values()):
            status, body = http("PUT", f"{self.sim}/__admin/keys/{key}/faults",
                                dict(FAULTS, seed=self.seed * 1000 + i))
            if status != 200:
                raise RuntimeError(f"faults of {key}: {status} {body[:200]}")
        # One after the other: two sync-services migrating an empty schema at the same moment
        # collide (the second fails to start).
        for name in ("import", "sync-a", "sync-b"):
            self.services[name].start()
            self.wait_ready(name)

        # Every company's queue has its consumer before the first upload.
        def consumed():
            queues = self.mq.queues()
            return sum(1 for q, (_, c) in queues.items() if q.startswith("chaos.sync.company.") and c > 0) >= 10

        wait_for("the sync.company queues' consumers", consumed, 90)

    def wait_ready(self, name):
        service = self.services[name]

        def ready():
            if not service.alive():
                with open(service.log_path, errors="replace") as f:
                    tail = f.read()[-1500:]
                raise SystemExit(f"bench-chaos: {name} exited while starting; its log ends:\n{tail}")
            return http("GET", self.ready[name])[0] == 200

        deadline = time.monotonic() + 90
        while not ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready within 90 s")
            time.sleep(0.2)

    # ---- chaos -------------------------------------------------------------------------------

    def at(self, when, name, action):
        heapq.heappush(self.events, (when, next(self.order), name, action))

    def plan(self):
        r = self.rng
        for n, report in enumerate(self.expected["reports"]):
            self.at(n * 5.0, f"upload {report}", lambda report=report: self.upload(report))
        for _ in range(3):
            self.at(r.uniform(3, 45), "SIGKILL a sync-service replica", lambda: self.kill(r.choice(["sync-a", "sync-b"])))
        for _ in range(2):
            self.at(r.uniform(1, 24), "SIGKILL import-service", lambda: self.kill("import"))
        for _ in range(2):
            self.at(r.uniform(3, 40), "SIGKILL config-service", lambda: self.kill("config"))
        self.at(r.uniform(5, 35), "SIGTERM a replica mid-call", lambda: self.term_mid_call(r.choice(["sync-a", "sync-b"])))
        broker = r.uniform(12, 32)
        db = r.uniform(12, 40)
        while abs(db - broker) < 10:
            db = r.uniform(12, 40)
        self.at(broker, "restart RabbitMQ", lambda: self.in_background("broker", self.restart_broker))
        self.at(db, "restart Postgres", lambda: self.in_background("db", self.restart_db))
        slug = r.choice(list(self.keys))
        # The key stays refused for 8 s, away from the broker's restart (senders wait for the
        # broker, so no request would meet the refusal then).
        before = max(0.0, broker - 9 - 3)  # room in [3, broker - 9]
        revoke = r.uniform(0, before + 24)  # or in [broker + 16, broker + 40]
        revoke = 3 + revoke if revoke < before else broker + 16 + (revoke - before)
        self.at(revoke, f"revoke {slug}'s Bayzat key (401s)", lambda: self.revoke(slug))
        self.at(revoke + 8, f"give {slug} a new key through config-service",
                lambda: self.in_background("new key", lambda: self.new_key(slug)))

    def in_background(self, name, action):
        def run():
            try:
                action()
            except Exception as error:  # noqa: BLE001 - reported, the run goes on
                log(f"{name} failed: {error}")
                self.notes.append(f"{name} failed: {error}")
            finally:
                with self.busy_lock:
                    self.busy.discard(name)

        with self.busy_lock:
            self.busy.add(name)
        threading.Thread(target=run, daemon=True).start()

    def kill(self, name, restart_after=None):
        service = self.services[name]
        if not service.alive() or f"SIGTERM {name}" in self.busy:
            self.at(time.monotonic() - self.start + 1, f"SIGKILL {name} (again)", lambda: self.kill(name))
            return
        service.signal(signal.SIGKILL)
        service.proc.wait()
        self.kills["SIGKILL"] += 1
        delay = restart_after if restart_after is not None else self.rng.uniform(0.5, 3)
        log(f"SIGKILL {name}; restart in {delay:.1f} s")
        self.at(time.monotonic() - self.start + delay, f"restart {name}", lambda: self.restart(name))

    def restart(self, name):
        self.services[name].start()

    def sim_requests(self):
        stats = get_json(f"{self.sim}/__admin/stats")
        return sum(k["requests"] + k["rate_limited"] for k in stats["keys"].values())

    def term_mid_call(self, name):
        service = self.services[name]
        if not service.alive():
            self.at(time.monotonic() - self.start + 1, f"SIGTERM {name} (again)", lambda: self.term_mid_call(name))
            return
        # Mid-call: while the simulator is answering requests.
        deadline = time.monotonic() + 5
        before = self.sim_requests()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            now = self.sim_requests()
            if now != before:
                break
            before = now
        service.signal(signal.SIGTERM)
        self.kills["SIGTERM"] += 1
        sent = time.monotonic()
        log(f"SIGTERM {name} while the simulator counts requests")

        def wait_exit():
            try:
                code = service.proc.wait(30)
                log(f"{name} exited {code} {time.monotonic() - sent:.1f} s after SIGTERM; restarting")
            except subprocess.TimeoutExpired:
                self.notes.append(f"{name} still running 30 s after SIGTERM; SIGKILL")
                service.proc.kill()
                service.proc.wait()
            service.start()

        self.in_background(f"SIGTERM {name}", wait_exit)

    def restart_broker(self):
        log("RabbitMQ: stopping")
        self.mq.stop()
        time.sleep(2)
        self.mq.start()
        self.broker_restarts += 1
        log("RabbitMQ: running again")

    def restart_db(self):
        log("Postgres: stopping (fast)")
        self.pg.stop("fast")
        time.sleep(3)
        self.pg.start()
        self.db_restarts += 1
        log("Postgres: running again")

    def revoke(self, slug):
        old = self.keys[slug]
        new = f"{old}_rotated"
        status, body = http("POST", f"{self.sim}/__admin/keys/{old}/rotate", {"to": new})
        if status != 200:
            raise RuntimeError(f"rotate {old}: {status} {body[:200]}")
        self.keys[slug] = new
        log(f"{slug}'s key {old} now answers 401; the simulator holds its records under {new}")

    def new_key(self, slug):
        body = {"api_key": self.keys[slug], "test_connection": False}
        headers = {"Authorization": f"Bearer {self.admin}"}
        for _ in range(120):
            status, answer = http("PUT", f"{self.config_url}/v1/companies/{slug}/bayzat-config", body, headers)
            if 200 <= status < 300:
                log(f"{slug}'s new key saved")
                return
            time.sleep(1)
        raise RuntimeError(f"the new key of {slug} was never saved (last answer {status} {answer[:200]})")

    def upload(self, report):
        def run():
            with open(f"{self.work}/{report}", "rb") as f:
                data = f.read()
            headers = {"Authorization": f"Bearer {self.operator}", "Content-Type": "text/csv"}
            for attempt in range(1, 200):
                status, body = http("POST", f"{self.import_url}/v1/imports", data, headers, timeout=60)
                if status in (200, 201):
                    view = json.loads(body)
                    if view.get("status") == "completed":
                        log(f"{report}: {status}, import {view.get('id')} (attempt {attempt})")
                        return
                    log(f"{report}: {status} but import {view.get('id')} is {view.get('status')}; again")
                elif status:
                    log(f"{report}: {status} {body[:160]!r}; again")
                time.sleep(1)
            raise RuntimeError(f"{report} was never imported")

        self.in_background(f"upload {report}", run)

    def supervise(self):
        """A service that died without being killed is restarted, as a supervisor would."""
        for service in self.services.values():
            if not service.expected_down and service.proc is not None and not service.alive():
                service.unexpected_exits += 1
                log(f"{service.name} exited by itself ({service.proc.returncode}); restarting")
                self.notes.append(f"{service.name} exited by itself ({service.proc.returncode})")
                service.start()

    def run_chaos(self):
        self.start = time.monotonic()
        self.plan()
        while self.events or self.busy:
            now = time.monotonic() - self.start
            while self.events and self.events[0][0] <= now:
                _, _, name, action = heapq.heappop(self.events)
                try:
                    action()
                except Exception as error:  # noqa: BLE001
                    log(f"{name} failed: {error}")
                    self.notes.append(f"{name} failed: {error}")
            self.supervise()
            time.sleep(0.05)

    # ---- settling and counting ---------------------------------------------------------------

    def ledgers(self):
        punches = {}
        for key in get_json(f"{self.sim}/__admin/stats")["keys"]:
            for entry in get_json(f"{self.sim}/__admin/keys/{key}/ledger"):
                p = (entry["empId"], entry["time"])
                punches[p] = punches.get(p, 0) + 1
        return punches

    def deliveries(self):
        rows = self.pg.query("SELECT emp_id, to_char(local_time, 'YYYY-MM-DD HH24:MI:SS'), state, "
                             "coalesce(last_error, '') FROM sync.deliveries")
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    def settle(self):
        deliver = {(e, t) for rows in self.expected["deliver"].values() for e, _, t in rows}
        reject = {(e, t) for rows in self.expected["reject"].values() for e, _, t in rows}
        deadline = time.monotonic() + SETTLE_CAP_S
        last = 0.0
        while True:
            self.supervise()
            try:
                ledger, states = self.ledgers(), self.deliveries()
            except Exception as error:  # noqa: BLE001
                log(f"reading the results failed ({error}); again")
                time.sleep(2)
                continue
            in_ledger = sum(1 for p in deliver if p in ledger)
            rejected = sum(1 for p in reject if states.get(p, ("",))[0] == "rejected")
            moving = sum(1 for s, _ in states.values() if s in ("pending", "sending", "retry_wait"))
            if time.monotonic() - last > 10:
                log(f"settling: {in_ledger}/{len(deliver)} in the ledger, {rejected}/{len(reject)} rejected, "
                    f"{moving} deliveries pending, sending or waiting to retry")
                last = time.monotonic()
            if in_ledger == len(deliver) and rejected == len(reject) and moving == 0:
                return ledger, states, True
            if time.monotonic() > deadline:
                log(f"not settled within {SETTLE_CAP_S:.0f} s")
                return ledger, states, False
            time.sleep(2)

    def resent_after_recorded_acceptance(self):
        """Acknowledged resends whose earlier 200 sync-service had recorded before resending."""
        acknowledged = []
        for key in get_json(f"{self.sim}/__admin/stats")["keys"]:
            acknowledged += [d for d in get_json(f"{self.sim}/__admin/keys/{key}/duplicates") if d["acknowledged"]]
        if not acknowledged:
            return set(), 0
        values = ",".join(f"('{d['empId']}', '{d['time']}', '{d['received_at']}')" for d in acknowledged)
        rows = self.pg.query(
            f"SELECT DISTINCT v.emp, v.t FROM (VALUES {values}) AS v(emp, t, at) "
            "JOIN sync.deliveries d ON d.emp_id = v.emp AND d.local_time = v.t::timestamp "
            "WHERE EXISTS (SELECT 1 FROM sync.bayzat_requests r WHERE d.punch_id = ANY(r.punch_ids) "
            "AND r.outcome = 'accepted' AND r.started_at < v.at::timestamptz)")
        return {(r[0], r[1]) for r in rows}, len({(d["empId"], d["time"]) for d in acknowledged})

    def report(self, wall, settled, ledger, states):
        deliver = [(e, t) for rows in self.expected["deliver"].values() for e, _, t in rows]
        reject = [(e, t) for rows in self.expected["reject"].values() for e, _, t in rows]
        delivered = sum(1 for p in deliver if p in ledger)
        rejected = sum(1 for p in deliver + reject if states.get(p, ("",))[0] == "rejected")
        lost = [p for p in deliver if p not in ledger]
        ledger_doubles = sum(n - 1 for n in ledger.values() if n > 1)
        recorded, acknowledged_resends = self.resent_after_recorded_acceptance()
        doubled = ledger_doubles + len(recorded)
        stuck = [p for p in deliver + reject
                 if p not in ledger and states.get(p, ("none",))[0] not in WAITING_STATES | {"rejected"}]
        stuck += [p for p, (s, _) in states.items() if p in ledger and s in ("pending", "sending")]
        queues = self.mq.queues()
        dead = sum(m for q, (m, _) in queues.items() if q.endswith("attendance.dead-letter"))
        stats = get_json(f"{self.sim}/__admin/stats")
        keys = stats["keys"].values()
        # What the simulator holds, for a look afterwards (kept when a target is missed).
        with open(f"{self.work}/simulator.json", "w") as f:
            json.dump({"stats": stats, "ledgers": {k: get_json(f"{self.sim}/__admin/keys/{k}/ledger") for k in stats["keys"]},
                       "duplicates": {k: get_json(f"{self.sim}/__admin/keys/{k}/duplicates") for k in stats["keys"]}}, f)
        refused = {}
        for k in keys:
            for reason, n in k["bad_requests_by_reason"].items():
                refused[reason] = refused.get(reason, 0) + n
        http_429 = sum(k["rate_limited"] for k in keys)
        gaps = [k["min_gap_ms"] for k in keys if k["min_gap_ms"] is not None]
        max_records = max(k["largest_request"] for k in keys)
        per_key = max(len(rows) for rows in self.expected["deliver"].values())
        ideal = -(-per_key // 20) * INTERVAL_MS / 1000

        log(f"simulator: {sum(k['requests'] for k in keys)} counted requests, {stats['unauthorized']} 401s, "
            f"{sum(k['server_errors'] for k in keys)} 500s ({sum(k['timeouts'] for k in keys)} held), "
            f"{sum(k['success_false'] for k in keys)} success:false, 400s by reason {refused}, {sum(k.get('injected_429', 0) for k in keys)} "
            f"injected 429s, {sum(k.get('slow_accepts', 0) for k in keys)} slow accepts; "
            f"{sum(k.get('duplicate_records', 0) for k in keys)} resent records refused as duplicates, "
            f"{acknowledged_resends} punches resent although answered 200 at once "
            f"({len(recorded)} of them after sync-service had recorded that 200)")
        log(f"kills: {self.kills['SIGKILL']} SIGKILL, {self.kills['SIGTERM']} SIGTERM; unexpected exits: "
            + ", ".join(f"{s.name} {s.unexpected_exits}" for s in self.services.values()))
        by_state = {}
        for p in lost:
            state = states.get(p, ("no delivery", ""))[0]
            by_state[state] = by_state.get(state, 0) + 1
        if lost:
            log(f"lost by sync-service state: {by_state}; first: "
                + "; ".join(f"{e} {t} {states.get((e, t), ('no delivery', ''))}" for e, t in lost[:8]))
        if stuck:
            log("stuck, first: " + "; ".join(f"{e} {t} {states.get((e, t), ('no delivery', ''))}" for e, t in stuck[:8]))
        if recorded:
            log("resent after a recorded 200, first: " + "; ".join(f"{e} {t}" for e, t in sorted(recorded)[:8]))
        for note in self.notes:
            log(f"note: {note}")
        if not settled:
            log("the run did not settle: see the logs above")
        print(f"bench-chaos: seed={self.seed} punches={len(deliver) + len(reject)} delivered={delivered} "
              f"rejected={rejected} lost={len(lost)} doubled={doubled} stuck={len(stuck)} dead_lettered={dead} "
              f"kills={self.kills['SIGKILL'] + self.kills['SIGTERM']} broker_restarts={self.broker_restarts} "
              f"db_restarts={self.db_restarts} http_429={http_429} min_gap_ms={min(gaps) if gaps else 0} "
              f"max_records={max_records} wall_s={wall:.1f} ideal_s={ideal:.1f}", flush=True)
        return (not lost and doubled == 0 and not stuck and dead == 0 and gaps and min(gaps) >= INTERVAL_MS
                and max_records <= 20)

    def cleanup(self):
        for service in self.services.values():
            service.stop()
        self.mq.stop()
        self.pg.stop("immediate")


def main():
    work, release = sys.argv[1], sys.argv[2]
    seed = int(os.environ["SEED"]) if os.environ.get("SEED") else random.SystemRandom().randrange(1, 10**6)
    log(f"seed={seed} (SEED={seed} make bench-chaos repeats this run's choices)")
    bench = Bench(work, release, seed)

    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    try:
        bench.setup()
        log("chaos starts with the first upload")
        begin = time.monotonic()
        bench.run_chaos()
        log("chaos over; waiting for everything to settle")
        ledger, states, settled = bench.settle()
        wall = time.monotonic() - begin
        ok = bench.report(wall, settled, ledger, states)
    finally:
        bench.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
