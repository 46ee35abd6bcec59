#!/usr/bin/env python3
"""Runs the retail middleware end to end and audits it.

Starts a broker (runnel-server or redis-server) on a free loopback port with a fresh data
directory, starts the services (orders, inventory x3, shipping x2, three client apps,
monitoring), runs for a bounded time, optionally kills the broker with SIGKILL in the middle
and restarts it on the same data directory, lets the consumers drain, stops everything, and
prints a summary. With --check it exits 1 when any guarantee is broken:

  * every order the order service saw acknowledged is in the stream after the run (none lost);
  * every such order was processed by inventory and by shipping at least once;
  * within a group, an order moves from one worker to another only through a claim;
  * both groups end with lag 0 and nothing pending;
  * monitoring received Pub/Sub events after the restart, and only events that were published.
"""
import argparse
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SERVICES = os.path.join(HERE, "services")
sys.path.insert(0, SERVICES)

import redis  # noqa: E402  (after the path tweak; the services share common.py)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(text):
    print(f"[scenario] {text}", file=sys.stderr, flush=True)


class Broker:
    def __init__(self, kind, binary, port, data_dir, fsync):
        self.kind, self.binary, self.port, self.data_dir, self.fsync = kind, binary, port, data_dir, fsync
        self.proc = None
        self.starts = 0

    def command(self):
        if self.kind == "runnel":
            return [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.data_dir,
                    "--appendfsync", self.fsync]
        return [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.data_dir,
                "--appendonly", "yes", "--appendfsync", self.fsync, "--save", "", "--daemonize", "no"]

    def start(self, timeout=30.0):
        self.starts += 1
        out = open(os.path.join(self.data_dir, "..", f"broker-{self.starts}.log"), "w")
        self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, cwd=self.data_dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.kind} exited at start (code {self.proc.returncode}); see {out.name}")
            try:
                if redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=0.2).ping():
                    return time.time()
            except redis.RedisError:
                time.sleep(0.05)
        raise SystemExit(f"{self.kind} did not answer PING within {timeout:.0f} s")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        return time.time()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def find_runnel(requested):
    if requested:
        return requested
    for config in ("release", "debug"):
        path = os.path.join(ROOT, ".build", config, "runnel-server")
        if os.access(path, os.X_OK):
            return path
    raise SystemExit("runnel-server not built: run `swift build -c release --product runnel-server` "
                     "(examples/retail/run does) or pass --runnel-binary")


def read_events(work):
    events = []
    for path in glob.glob(os.path.join(work, "logs", "*.jsonl")):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        events.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass  # a torn last line of a service that was killed
    events.sort(key=lambda e: e["t"])
    return events


def audit(events, final, restarted_at):
    """Checks the guarantees; returns (summary dict, list of failures)."""
    failures = []
    placed = {e["id"]: e["order"] for e in events if e["ev"] == "placed"}
    unacked = sum(1 for e in events if e["ev"] == "unacknowledged")
    missing_in_stream = [i for i in placed if i not in final["stream_ids"]]
    if missing_in_stream:
        failures.append(f"{len(missing_in_stream)} acknowledged orders are missing from the stream, "
                        f"e.g. {missing_in_stream[:3]}")
    groups = {}
    for g in ("inventory", "shipping"):
        procs = [e for e in events if e["ev"] == "processed" and e["group"] == g]
        by_id = {}
        for e in procs:
            by_id.setdefault(e["id"], []).append(e)
        not_done = [i for i in placed if i not in by_id]
        if not_done:
            failures.append(f"{g}: {len(not_done)} acknowledged orders never processed, e.g. {not_done[:3]}")
        moved_without_claim = []
        for entry_id, ps in by_id.items():
            owner = ps[0]["consumer"]
            for e in ps[1:]:
                if e["consumer"] != owner:
                    if e["via"] != "claim":
                        moved_without_claim.append((entry_id, owner, e["consumer"]))
                    owner = e["consumer"]
        if moved_without_claim:
            failures.append(f"{g}: {len(moved_without_claim)} orders processed by two workers without a claim, "
                            f"e.g. {moved_without_claim[:3]}")
        workers = sorted({e["consumer"] for e in procs})
        groups[g] = {
            "orders_processed": len(by_id),
            "processings": len(procs),
            "redelivered": len(procs) - len(by_id),
            "claimed": sum(1 for e in procs if e["via"] == "claim"),
            "reread_own_pending": sum(1 for e in procs if e["via"] == "own-pending"),
            "per_worker": {w: sum(1 for e in procs if e["consumer"] == w) for w in workers},
            "workers_died": sorted(e["consumer"] for e in events if e["ev"] == "died" and e["group"] == g),
            "final_lag": final["groups"].get(g, {}).get("lag"),
            "final_pending": final["groups"].get(g, {}).get("pending"),
        }
        if groups[g]["final_lag"] != 0 or groups[g]["final_pending"] != 0:
            failures.append(f"{g}: did not drain (lag {groups[g]['final_lag']}, pending {groups[g]['final_pending']})")
    published = {(e["app"], e["seq"]) for e in events if e["ev"] == "published"}
    failed = [e for e in events if e["ev"] == "publish-failed"]
    received = [e for e in events if e["ev"] == "received"]
    phantom = [(e["app"], e["seq"]) for e in received if (e["app"], e["seq"]) not in published]
    if phantom:
        failures.append(f"monitoring received {len(phantom)} events nobody published, e.g. {phantom[:3]}")
    after = [e for e in received if restarted_at is not None and e["t"] > restarted_at]
    if restarted_at is not None and not after:
        failures.append("monitoring received nothing after the broker restarted")
    if not received:
        failures.append("monitoring received no Pub/Sub events")
    summary = {
        "orders_placed": len(placed),
        "orders_unacknowledged": unacked,
        "stream_length": len(final["stream_ids"]),
        "shipments": final["shipments"],
        "groups": groups,
        "pubsub": {
            "published": len(published),
            "published_while_monitoring_listened": sum(1 for e in events if e["ev"] == "published" and e["receivers"] > 0),
            "publish_failed_while_down": len(failed),
            "received_by_monitoring": len(received),
            "received_after_restart": len(after) if restarted_at is not None else None,
            "errors_seen": sum(1 for e in received if e["kind"] == "error"),
        },
        "monitoring_reports": sum(1 for e in events if e["ev"] == "report"),
    }
    return summary, failures


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", choices=["runnel", "redis"], default="runnel", help="which broker to run against")
    p.add_argument("--runnel-binary", help="runnel-server to start (default: .build/release, then .build/debug)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds the order service places orders")
    p.add_argument("--crash-at", type=float, help="SIGKILL the broker this many seconds in, then restart it")
    p.add_argument("--down", type=float, default=1.0, help="seconds the broker stays down after the crash")
    p.add_argument("--appendfsync", choices=["always", "everysec", "no"], default="always")
    p.add_argument("--rate", type=float, default=50.0, help="orders per second")
    p.add_argument("--check", action="store_true", help="exit 1 if any guarantee is broken")
    p.add_argument("--json", help="also write the summary as JSON to this file")
    p.add_argument("--quiet", action="store_true", help="services' messages go to the work directory, not stderr")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, data)")
    args = p.parse_args()
    # A parent (a test runner, a CI shell) may have left signals blocked or ignored; the services
    # and the broker inherit that, and must stop on SIGTERM.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    binary = find_runnel(args.runnel_binary) if args.server == "runnel" else shutil.which("redis-server")
    if not binary:
        raise SystemExit("redis-server not found (apt-get install redis-server)")
    work = tempfile.mkdtemp(prefix="runnel-retail-")
    os.makedirs(os.path.join(work, "logs"))
    os.makedirs(os.path.join(work, "data"))
    port = free_port()
    broker = Broker(args.server, binary, port, os.path.join(work, "data"), args.appendfsync)
    log(f"{args.server} on 127.0.0.1:{port}, appendfsync {args.appendfsync}, work dir {work}")
    broker.start()

    procs = {}

    def spawn(name, script, *extra):
        cmd = [sys.executable, os.path.join(SERVICES, script), "--port", str(port),
               "--log", os.path.join(work, "logs", name + ".jsonl"), *extra]
        err = open(os.path.join(work, "logs", name + ".err"), "w") if args.quiet else None
        procs[name] = subprocess.Popen(cmd, cwd=SERVICES, stderr=err)

    spawn("monitoring", "monitoring.py")
    for i, die in ((1, 0), (2, 0), (3, 40)):
        spawn(f"inv-{i}", "consumer.py", "--group", "inventory", "--consumer", f"inv-{i}", "--die-after", str(die))
    for i, die in ((1, 0), (2, 150)):
        spawn(f"ship-{i}", "consumer.py", "--group", "shipping", "--consumer", f"ship-{i}", "--die-after", str(die))
    for i, app in enumerate(("pos-berlin", "mobile-ios", "webshop")):
        spawn(app, "apps.py", "--app", app, "--seed", str(i + 1))
    time.sleep(1.0)  # let the groups exist before the first order
    spawn("orders", "orders.py", "--rate", str(args.rate))

    started = time.monotonic()
    restarted_at = None
    crashed = args.crash_at is None
    while time.monotonic() - started < args.duration:
        if not crashed and time.monotonic() - started >= args.crash_at:
            crashed = True
            broker.kill9()
            log(f"killed {args.server} with SIGKILL at {args.crash_at:.1f} s; down for {args.down:.1f} s")
            time.sleep(args.down)
            restarted_at = broker.start()
            log(f"{args.server} restarted on the same data directory")
        time.sleep(0.05)
    for name in ("orders", "pos-berlin", "mobile-ios", "webshop"):
        procs[name].terminate()
    for name in ("orders", "pos-berlin", "mobile-ios", "webshop"):
        procs[name].wait(timeout=15)

    # Drain: the live workers finish every order (claiming what the dead ones held).
    r = redis.Redis(port=port, decode_responses=True, socket_timeout=5)
    final_groups = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        final_groups = {g["name"]: {"lag": g.get("lag"), "pending": g.get("pending")} for g in r.xinfo_groups("orders")}
        if all(v["lag"] == 0 and v["pending"] == 0 for v in final_groups.values()) and len(final_groups) == 2:
            break
        time.sleep(0.2)
    time.sleep(2.5)  # one more monitoring report
    stream_ids = {entry_id for entry_id, _ in r.xrange("orders", "-", "+")}
    final = {"groups": final_groups, "stream_ids": stream_ids, "shipments": r.xlen("shipments")}
    for name, proc in procs.items():
        if proc.poll() is None:
            proc.terminate()
    for name, proc in procs.items():
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    broker.stop()

    summary, failures = audit(read_events(work), final, restarted_at)
    summary["server"] = args.server
    summary["appendfsync"] = args.appendfsync
    summary["crashed_and_restarted"] = restarted_at is not None
    summary["failures"] = failures
    print_summary(summary)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2, sort_keys=True)
    if args.keep:
        log(f"logs and data kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if args.check and failures:
        sys.exit(1)


def print_summary(s):
    out = []
    out.append(f"Retail scenario on {s['server']} (appendfsync {s['appendfsync']})"
               + (", broker killed with SIGKILL and restarted" if s["crashed_and_restarted"] else ""))
    out.append(f"  orders placed (acknowledged): {s['orders_placed']}   unanswered attempts: {s['orders_unacknowledged']}"
               f"   stream length: {s['stream_length']}   shipments: {s['shipments']}")
    for g, v in s["groups"].items():
        workers = ", ".join(f"{w} {n}" for w, n in v["per_worker"].items())
        died = f"; died: {', '.join(v['workers_died'])}" if v["workers_died"] else ""
        out.append(f"  {g:<9} processed {v['orders_processed']} orders ({workers}{died})")
        out.append(f"            {v['redelivered']} processed twice; {v['claimed']} claimed from dead workers, "
                   f"{v['reread_own_pending']} re-read from own pending; final lag {v['final_lag']}, "
                   f"pending {v['final_pending']}")
    ps = s["pubsub"]
    after = "" if ps["received_after_restart"] is None else f", {ps['received_after_restart']} after the restart"
    out.append(f"  pub/sub: {ps['published']} published ({ps['published_while_monitoring_listened']} with monitoring "
               f"subscribed), {ps['publish_failed_while_down']} failed while the broker "
               f"was down (gone, as Pub/Sub is live only); monitoring saw {ps['received_by_monitoring']}{after}, "
               f"{ps['errors_seen']} app errors; {s['monitoring_reports']} lag reports")
    if s["failures"]:
        out.append("  FAILED:")
        out.extend(f"    - {f}" for f in s["failures"])
    else:
        out.append("  all checks passed: nothing acknowledged was lost, every order reached both groups, "
                   "orders changed worker only by claim, both groups drained")
    print("\n".join(out), flush=True)


if __name__ == "__main__":
    main()
