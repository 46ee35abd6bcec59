import RunnelTestSupport

/// CLIENT TRACKING (server-assisted client-side caching) compared against redis-server 7.0.
/// Every case runs in RESP2 and RESP3: in RESP3 invalidations are pushes on the tracking
/// connection itself; in RESP2 only a REDIRECT to a subscribed connection receives them (as
/// `__redis__:invalidate` messages). `@n ?` reads what reached connection n. Replies that carry
/// a client ID (which differs between the servers) compare by shape (`~`).
let trackingCases: [DiffCase] = [
    // OPTIN and OPTOUT cannot be swapped while tracking is on (plain ON may follow either).
    DiffCase("tracking optin optout switch", [
        "CLIENT TRACKING on OPTIN", "CLIENT TRACKING on OPTOUT", "CLIENT CACHING yes", "CLIENT TRACKING on",
        "CLIENT TRACKING on OPTOUT", "CLIENT TRACKING on OPTIN", "CLIENT CACHING no", "CLIENT TRACKING off",
        "CLIENT TRACKING on OPTIN", "CLIENT TRACKINGINFO", "CLIENT TRACKING off",
    ]),
    // An invalidation a client causes for itself inside EXEC goes out after EXEC, to the
    // REDIRECT it had, even if the transaction turned tracking off meanwhile.
    DiffCase("tracking off inside exec keeps the pending invalidation", [
        "@2 SUBSCRIBE __redis__:invalidate", "@1 CLIENT TRACKING on REDIRECT $ID2", "@1 XLEN pb", "@1 MULTI",
        "@1 XADD pb 1-1 f v", "@1 CLIENT TRACKING off", "@1 EXEC", "@2 ?",
    ]),
    // A redirect target that goes away is reported at each invalidation (RESP3 push with its
    // id, so compared in shape), and the client is flagged `R`.
    DiffCase("tracking redirect broken", [
        "@1 ~HELLO 3", "@2 PING", "@1 CLIENT TRACKING on REDIRECT $ID2", "@1 XLEN k", "@1 XLEN j", "@2 QUIT",
        "sleep:50", "XADD k 1-1 f v", "@1 ~PING", "XADD j 1-1 f v", "@1 ~PING", "@1 %CLIENT INFO", "@1 ~CLIENT TRACKINGINFO",
    ]),
    // A flush invalidates everything with a null in the tracking client's protocol, written
    // as it is also into a RESP2 `message` when a RESP3 client redirects there.
    DiffCase("tracking flush null by the tracking client's protocol", [
        "@2 SUBSCRIBE __redis__:invalidate", "@1 ~HELLO 3", "@1 CLIENT TRACKING on REDIRECT $ID2", "@1 XLEN k",
        "FLUSHALL", "@2 ?", "@1 CLIENT TRACKING off", "@3 CLIENT TRACKING on REDIRECT $ID2", "@3 XLEN k", "FLUSHALL", "@2 ?",
    ]),
    DiffCase("tracking remembers read keys", [
        "@1 CLIENT TRACKING on", "@1 XLEN k1", "@1 XRANGE k2 - +", "@1 XREAD STREAMS k3 k4 0 0", "@1 XINFO STREAM k5",
        "@2 XADD k1 1-1 f v", "@1 ?", "@2 XADD k2 1-1 f v", "@2 XADD k3 1-1 f v", "@2 XADD k4 1-1 f v", "@1 ?",
        // The first change forgets the key: a second one sends nothing.
        "@2 XADD k1 1-2 f v", "@1 ?",
        "@2 XADD k5 1-1 f v", "@1 ?",
        // Writes do not register keys; the client's own change arrives after its reply.
        "@1 XADD w 1-1 f v", "@2 XADD w 1-2 f v", "@1 ?", "@1 XLEN k1", "@1 XADD k1 1-3 f v",
        "@1 XLEN k1", "@1 DEL k1", "@1 XLEN k1", "@2 EXPIRE k2 100", "@1 XLEN k2", "@2 EXPIRE k2 100", "@1 ?",
        "@1 CLIENT TRACKINGINFO", "@1 CLIENT GETREDIR", "@1 CLIENT TRACKING off", "@1 CLIENT TRACKINGINFO",
        "@1 CLIENT GETREDIR", "@1 XLEN k3", "@2 DEL k3", "@1 ?",
    ]),
    DiffCase("tracking keys read in a transaction", [
        "@1 CLIENT TRACKING on", "@1 MULTI", "@1 XLEN m1", "@1 XADD m1 1-1 f v", "@1 XLEN m1", "@1 XADD m1 1-2 f v",
        "@1 EXEC", "@1 XLEN m2", "@2 MULTI", "@2 XADD m2 1-1 f v", "@2 XADD m2 1-2 f v", "@2 EXEC", "@1 ?",
    ]),
    DiffCase("tracking redirect to a subscribed client", [
        "@1 SUBSCRIBE __redis__:invalidate", "@2 CLIENT TRACKING on REDIRECT $ID1", "@2 XLEN r1", "@2 XRANGE r2 - +",
        "@3 XADD r1 1-1 f v", "@1 ?", "@3 XADD r2 1-1 f v", "@1 ?", "@2 XLEN r1", "@3 DEL r1", "@1 ?",
        "@2 XLEN r1", "@2 XLEN r2", "@3 FLUSHALL", "@1 ?", "@2 ?", "@2 ~CLIENT TRACKINGINFO", "@2 ~CLIENT GETREDIR",
        // Redirected to a connection that is not subscribed: RESP2 cannot deliver.
        "@4 PING", "@5 CLIENT TRACKING on REDIRECT $ID4", "@5 XLEN r3", "@3 XADD r3 1-1 f v", "@4 ?", "@5 ?",
    ]),
    DiffCase("tracking redirect to a closed client", [
        "@3 PING", "@2 CLIENT TRACKING on REDIRECT $ID3", "@2 XLEN b1", "@3 QUIT", "sleep:50",
        "@4 XADD b1 1-1 f v", "@2 ~?", "@2 ~CLIENT TRACKINGINFO", "@2 CLIENT TRACKING on", "@2 CLIENT TRACKINGINFO",
    ]),
    DiffCase("tracking noloop", [
        "@1 CLIENT TRACKING on NOLOOP", "@1 XLEN n1", "@1 XLEN n2", "@1 XADD n1 1-1 f v", "@2 XADD n2 1-1 f v",
        "@1 ?", "@1 CLIENT TRACKINGINFO",
    ]),
    DiffCase("tracking optin and optout", [
        "@1 CLIENT TRACKING on OPTIN", "@1 XLEN o1", "@2 XADD o1 1-1 f v", "@1 ?", "@1 CLIENT CACHING yes",
        "@1 CLIENT TRACKINGINFO", "@1 XLEN o1", "@2 XADD o1 1-2 f v", "@1 ?", "@1 CLIENT CACHING yes", "@1 PING",
        "@1 XLEN o1", "@2 XADD o1 1-3 f v", "@1 ?", "@1 CLIENT CACHING yes", "@1 MULTI", "@1 XLEN o1", "@1 XLEN o2",
        "@1 EXEC", "@1 CLIENT TRACKINGINFO", "@2 XADD o1 1-4 f v", "@2 XADD o2 1-1 f v", "@1 ?",
        "@1 CLIENT CACHING no", "@1 CLIENT TRACKING off", "@1 CLIENT TRACKING on OPTOUT", "@1 CLIENT CACHING yes",
        "@1 CLIENT CACHING no", "@1 CLIENT TRACKINGINFO", "@1 XLEN o3", "@1 XLEN o4", "@2 XADD o3 1-1 f v",
        "@2 XADD o4 1-1 f v", "@1 ?", "@1 CLIENT CACHING maybe",
    ]),
    DiffCase("tracking broadcast", [
        "@1 CLIENT TRACKING on BCAST PREFIX p PREFIX q", "@1 CLIENT TRACKINGINFO",
        "@2 raw:XADD pz 1-1 f v\r\nXADD pa 1-1 f v\r\nXADD pz 1-2 f v\r\nXADD x 1-1 f v\r\nXADD q 1-1 f v\r\n",
        "@1 ?", "@1 raw:XADD pb 1-1 f v\r\nXADD pc 1-1 f v\r\n", "@1 XLEN pb", "@2 XADD pb 1-2 f v", "@1 ?",
        "@1 CLIENT TRACKING on", "@1 CLIENT TRACKING off", "@1 CLIENT TRACKING on BCAST NOLOOP",
        "@2 raw:XADD pz 1-3 f v\r\nDEL q\r\n", "@1 ?", "@1 raw:XADD pb 1-2 f v\r\nXADD pd 1-2 f v\r\n",
        "@2 raw:XADD pd 1-3 f v\r\nXADD pb 1-3 f v\r\n", "@1 ?", "@3 CLIENT TRACKING on BCAST PREFIX p",
        "@2 FLUSHALL", "@1 ?", "@3 ?",
    ]),
    DiffCase("tracking flushes, swapdb and reset", [
        "@1 CLIENT TRACKING on", "@1 XLEN f1", "@1 SELECT 1", "@1 XLEN f2", "@2 SWAPDB 0 1", "@1 ?", "@2 FLUSHDB",
        "@1 ?", "@2 SELECT 5", "@2 FLUSHDB", "@1 ?", "@1 FLUSHALL ASYNC", "@1 RESET", "@1 CLIENT TRACKINGINFO",
        "@1 XLEN f1", "@2 XADD f1 1-1 f v", "@1 ?",
    ]),
    DiffCase("tracking option errors", [
        "CLIENT TRACKING", "CLIENT TRACKING maybe", "CLIENT TRACKING on foo", "CLIENT TRACKING on PREFIX a",
        "CLIENT TRACKING on BCAST OPTIN", "CLIENT TRACKING on BCAST OPTOUT", "CLIENT TRACKING on OPTIN OPTOUT",
        "CLIENT TRACKING on REDIRECT x", "CLIENT TRACKING on REDIRECT 99999999", "CLIENT TRACKING on REDIRECT",
        "CLIENT TRACKING on BCAST PREFIX a PREFIX ab", "CLIENT TRACKINGINFO",
        // An overlap among later prefixes: Redis answers the error and then OK, and enables.
        "CLIENT TRACKING on BCAST PREFIX x PREFIX a PREFIX ab", "CLIENT TRACKINGINFO",
        "CLIENT TRACKING on BCAST PREFIX abc", "CLIENT TRACKING on BCAST PREFIX a", "CLIENT TRACKING on",
        "CLIENT TRACKING off", "CLIENT TRACKING off", "CLIENT CACHING yes", "CLIENT CACHING no",
        "CLIENT TRACKING on", "CLIENT CACHING yes", "CLIENT CACHING no", "CLIENT CACHING", "CLIENT GETREDIR x",
        "CLIENT TRACKINGINFO x",
    ]),
]
