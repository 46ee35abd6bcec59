"""A client app (point of sale, mobile app, web shop): publishes heartbeats and, now and then,
errors on Pub/Sub channels apps:heartbeat:<app> and apps:error:<app>. Pub/Sub is live only:
what is published while nobody listens, or while the broker is down, is gone."""
import json
import random
import time

from common import TRANSIENT, EventLog, Stop, base_args, connect, say


def main():
    p = base_args("a client app publishing heartbeats and errors")
    p.add_argument("--app", required=True)
    p.add_argument("--rate", type=float, default=5.0, help="heartbeats per second")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    log, stop, rng = EventLog(args.log, args.app), Stop(), random.Random(args.seed)
    r = connect(args)
    seq, sent, lost = 0, 0, 0
    while not stop.requested:
        seq += 1
        kind = "error" if rng.random() < 0.1 else "heartbeat"
        channel = f"apps:{kind}:{args.app}"
        body = json.dumps({"app": args.app, "seq": seq, "kind": kind, "at": round(time.time(), 3)})
        try:
            receivers = r.publish(channel, body)
            log.write("published", app=args.app, seq=seq, kind=kind, receivers=receivers)
            sent += 1
        except TRANSIENT as e:
            log.write("publish-failed", app=args.app, seq=seq, kind=kind, error=type(e).__name__)
            lost += 1
        stop.sleep(1.0 / args.rate)
    say(args.app, f"published {sent}, {lost} failed while the broker was unreachable")


if __name__ == "__main__":
    main()
