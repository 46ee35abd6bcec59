"""Order service: places orders by XADDing them to the `orders` stream.

An order counts as placed only when XADD has answered with its entry ID; with
appendfsync always that answer means the order is on disk.
"""
import random
import time

from common import ORDERS, TRANSIENT, EventLog, Stop, base_args, connect, say

SKUS = ["sku-%03d" % i for i in range(40)]
CUSTOMERS = ["cust-%04d" % i for i in range(500)]


def main():
    p = base_args("place orders on the orders stream")
    p.add_argument("--rate", type=float, default=50.0, help="orders per second")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    log, stop, rng = EventLog(args.log, "orders"), Stop(), random.Random(args.seed)
    r = connect(args)
    n, placed, failed = 0, 0, 0
    interval = 1.0 / args.rate
    next_at = time.monotonic()
    while not stop.requested:
        n += 1
        qty = rng.randint(1, 4)
        order = {
            "order_id": "o-%d" % n,
            "customer": rng.choice(CUSTOMERS),
            "sku": rng.choice(SKUS),
            "qty": qty,
            "total": "%.2f" % (qty * rng.uniform(3, 120)),
            "placed_at": "%.3f" % time.time(),
        }
        try:
            entry_id = r.xadd(ORDERS, order)
            log.write("placed", order=n, id=entry_id)
            placed += 1
        except TRANSIENT as e:
            # No answer: the order may or may not be in the stream. It is not counted as placed.
            log.write("unacknowledged", order=n, error=type(e).__name__)
            failed += 1
            stop.sleep(0.1)
        next_at += interval
        stop.sleep(max(0.0, next_at - time.monotonic()))
        if time.monotonic() - next_at > 1.0:
            next_at = time.monotonic()  # fell behind (broker was down): do not burst
    say("orders", f"placed {placed} orders, {failed} attempts unanswered")


if __name__ == "__main__":
    main()
