"""Monitoring service: follows every client app on Pub/Sub (PSUBSCRIBE apps:*), and every few
seconds reports the orders stream's length and each consumer group's lag and pending count
(XLEN, XINFO GROUPS). Speaks RESP3."""
import json
import time

from common import ORDERS, SHIPMENTS, APP_CHANNELS, TRANSIENT, EventLog, Stop, base_args, connect, say


def main():
    p = base_args("monitor client apps and stream lag")
    p.add_argument("--report-every", type=float, default=2.0)
    args = p.parse_args()
    log, stop = EventLog(args.log, "monitoring"), Stop()
    r = connect(args, protocol=3)
    pubsub = None
    seen = {"heartbeat": 0, "error": 0}
    next_report = time.monotonic() + args.report_every
    while not stop.requested:
        try:
            if pubsub is None:
                # In RESP3, messages arrive as push frames; pass them through to get_message
                # (redis-py's default handler would also log each one).
                pubsub = r.pubsub(ignore_subscribe_messages=True, push_handler_func=lambda push: push)
                pubsub.psubscribe(APP_CHANNELS)
                log.write("subscribed", pattern=APP_CHANNELS)
            msg = pubsub.get_message(timeout=0.2)
            if msg and msg.get("type") == "pmessage":
                body = json.loads(msg["data"])
                seen[body["kind"]] = seen.get(body["kind"], 0) + 1
                log.write("received", app=body["app"], seq=body["seq"], kind=body["kind"],
                          channel=msg["channel"])
                if body["kind"] == "error":
                    say("monitoring", f"error reported by {body['app']} (#{body['seq']})")
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + args.report_every
                length = r.xlen(ORDERS)
                groups = {g["name"]: g for g in r.xinfo_groups(ORDERS)} if length or r.exists(ORDERS) else {}
                shipped = r.xlen(SHIPMENTS)
                parts = [f"orders={length}", f"shipments={shipped}"]
                for name in sorted(groups):
                    g = groups[name]
                    parts.append(f"{name}: lag={g.get('lag')} pending={g.get('pending')} consumers={g.get('consumers')}")
                parts.append(f"heartbeats={seen['heartbeat']} errors={seen['error']}")
                say("monitoring", " | ".join(parts))
                log.write("report", length=length, shipments=shipped,
                          groups={n: {"lag": g.get("lag"), "pending": g.get("pending")} for n, g in groups.items()})
        except TRANSIENT as e:
            if pubsub is not None:
                log.write("disconnected", error=type(e).__name__)
                try:
                    pubsub.close()
                except Exception:
                    pass
                pubsub = None
            stop.sleep(0.2)
    say("monitoring", f"saw {seen['heartbeat']} heartbeats and {seen['error']} errors")


if __name__ == "__main__":
    main()
