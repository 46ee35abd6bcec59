"""A worker of the inventory or shipping service: one consumer of that service's consumer
group on the `orders` stream.

The loop is the one the Redis documentation recommends:
  1. after (re)connecting, read our own pending entries (ID 0) and finish them;
  2. every second, XAUTOCLAIM entries another worker left pending for too long (it died);
  3. otherwise XREADGROUP ... BLOCK for new entries (ID >).
Each entry is processed, logged, then XACKed. `--die-after N` makes this worker quit
abruptly after N orders, holding a batch it has read but not acknowledged: the other
workers must claim and finish it.
"""
import os
import time

import redis

from common import ORDERS, SHIPMENTS, TRANSIENT, EventLog, Stop, base_args, connect, say

CARRIERS = ["dhl", "ups", "fedex", "post"]


class Inventory:
    """Reserves stock for each order (in memory: this is a demo of the messaging, not a warehouse)."""

    def __init__(self):
        self.stock = {}

    def handle(self, r, entry_id, order):
        sku = order.get("sku", "?")
        self.stock[sku] = self.stock.get(sku, 1000) - int(order.get("qty", "1"))


class Shipping:
    """Books a carrier for each order and records it on the `shipments` stream."""

    def handle(self, r, entry_id, order):
        carrier = CARRIERS[hash(order.get("order_id", "")) % len(CARRIERS)]
        r.xadd(SHIPMENTS, {"order_id": order.get("order_id", "?"), "order_entry": entry_id,
                           "carrier": carrier}, maxlen=100000, approximate=True)


def main():
    p = base_args("a worker of the inventory or shipping service")
    p.add_argument("--group", required=True, choices=["inventory", "shipping"])
    p.add_argument("--consumer", required=True)
    p.add_argument("--die-after", type=int, default=0, help="quit abruptly after this many orders")
    p.add_argument("--claim-idle-ms", type=int, default=2000)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--work-ms", type=float, default=15.0, help="time spent on each order")
    args = p.parse_args()
    me, group = args.consumer, args.group
    log, stop = EventLog(args.log, me), Stop()
    r = connect(args)
    handler = Inventory() if group == "inventory" else Shipping()
    processed, claimed, reprocessed = 0, 0, 0

    def process(entries, via):
        nonlocal processed
        ids = []
        for entry_id, fields in entries:
            if fields is None:  # deleted while pending: nothing to do but acknowledge
                ids.append(entry_id)
                continue
            time.sleep(args.work_ms / 1000.0)
            handler.handle(r, entry_id, fields)
            log.write("processed", group=group, consumer=me, id=entry_id,
                      order=fields.get("order_id"), via=via)
            processed += 1
            ids.append(entry_id)
        if ids:
            r.xack(ORDERS, group, *ids)

    # The group may not exist yet (first start): create it at the beginning of the stream.
    while not stop.requested:
        try:
            r.xgroup_create(ORDERS, group, id="0", mkstream=True)
            break
        except redis.ResponseError as e:
            if "BUSYGROUP" in str(e):
                break
            raise
        except TRANSIENT:
            stop.sleep(0.1)

    own_pending_first = True
    next_claim = time.monotonic() + 1.0
    while not stop.requested:
        try:
            if own_pending_first:
                reply = r.xreadgroup(group, me, {ORDERS: "0"}, count=50)
                entries = reply[0][1] if reply else []
                if entries:
                    reprocessed += len(entries)
                    process(entries, "own-pending")
                    continue
                own_pending_first = False
            if time.monotonic() >= next_claim:
                next_claim = time.monotonic() + 1.0
                cursor = "0-0"
                for _ in range(20):  # bounded sweep of the group's PEL
                    cursor, entries, _deleted = r.xautoclaim(ORDERS, group, me, args.claim_idle_ms,
                                                             start_id=cursor, count=50)
                    if entries:
                        claimed += len(entries)
                        log.write("claimed", group=group, consumer=me, ids=[e[0] for e in entries])
                        process(entries, "claim")
                    if cursor == "0-0":
                        break
            if args.die_after and processed >= args.die_after:
                reply = r.xreadgroup(group, me, {ORDERS: ">"}, count=args.count, block=1000)
                held = [e[0] for e in reply[0][1]] if reply else []
                if not held:
                    continue  # die holding something, so that someone must claim it
                log.write("died", group=group, consumer=me, holding=held)
                say(me, f"dies after {processed} orders, holding {len(held)} unacknowledged")
                os._exit(0)
            reply = r.xreadgroup(group, me, {ORDERS: ">"}, count=args.count, block=500)
            if reply:
                process(reply[0][1], "new")
        except TRANSIENT as e:
            # Broker gone (restart, crash): reconnect, then first finish what we still hold.
            log.write("disconnected", group=group, consumer=me, error=type(e).__name__)
            own_pending_first = True
            stop.sleep(0.1)
    say(me, f"{group}: processed {processed} (claimed {claimed}, re-read own pending {reprocessed})")


if __name__ == "__main__":
    main()
