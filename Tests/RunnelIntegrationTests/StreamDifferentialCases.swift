import RunnelTestSupport

/// Stream command scripts compared against redis-server 7.0 (see DifferentialCases.swift for
/// the line syntax). Time-dependent replies (idle times, delivery times, `*` IDs) use `~`.
let streamCases: [DiffCase] = [
    // Extreme integers in options: Redis's C arithmetic wraps; Runnel must answer the same and
    // never trap (each of these once stopped the server on an overflow).
    DiffCase("extreme integer arguments", [
        "XADD s 1-1 f v", "XGROUP CREATE s g 0", "XREADGROUP GROUP g c STREAMS s >",
        "~XCLAIM s g c2 0 1-1 IDLE -9223372036854775808", "~XCLAIM s g c2 0 1-1 IDLE 9223372036854775807",
        "~XCLAIM s g c2 0 1-1 TIME -9223372036854775808", "~XCLAIM s g c2 0 1-1 TIME 9223372036854775807",
        "~XCLAIM s g c 0 1-1 RETRYCOUNT 9223372036854775807", "~XCLAIM s g c 0 1-1", "~XCLAIM s g c 0 1-1",
        "~XPENDING s g - + 10", "~XREADGROUP GROUP g c STREAMS s 0", "~XPENDING s g IDLE -9223372036854775808 - + 10",
        "~XAUTOCLAIM s g c 9223372036854775807 0", "XSETID s 1-1 ENTRIESADDED 9223372036854775807", "XADD s 2-1 f v",
        "XADD s 3-1 f v", "XINFO GROUPS s", "CONFIG SET latency-monitor-threshold 9223372036854775807", "PING",
        "CONFIG SET latency-monitor-threshold 0", "CLIENT PAUSE 9223372036854775807 WRITE", "CLIENT UNPAUSE",
        "XREAD COUNT 9223372036854775807 STREAMS s 0", "XRANGE s - + COUNT -9223372036854775808", "PING",
    ]),
    // Node boundaries with an element whose listpack entry is exactly 16,383 bytes (a 16,378-byte
    // value plus its 5-byte header): its back-length takes 3 bytes, not 2, in Redis's accounting.
    DiffCase("xadd node bytes at a back-length boundary", [
        "CONFIG SET stream-node-max-bytes 16416", "XADD s 1-1 f " + String(repeating: "a", count: 16378), "XADD s 1-2 f x",
        "XINFO STREAM s", "CONFIG SET stream-node-max-bytes 16417", "XADD t 1-1 f " + String(repeating: "a", count: 16378),
        "XADD t 1-2 f x", "XINFO STREAM t", "CONFIG SET stream-node-max-bytes 4096",
    ]),
    // XADD
    DiffCase("xadd ids", ["XADD s 1-1 a 1", "XADD s 1-1 a 1", "XADD s 1-0 a 1", "XADD s 0-0 a 1", "XADD t 0-0 a 1",
                          "XADD s 1-* b 2", "XADD s 2-* c 3", "XADD s 1-* d 4", "XADD s 5 e 5", "XADD s 5-0 x y",
                          "XADD s abc f v", "XADD s 1-x f v", "XADD s - f v", "XADD s + f v", "XADD s 9-9 f",
                          "XADD s 9-9 f v g", "XRANGE s - +", "XLEN s", "~XADD s * auto 1", "XLEN s",
                          "XADD s 18446744073709551615-18446744073709551615 last 1", "XADD s * x 1",
                          "XADD s 18446744073709551615-* x 1", "XADD u 0-* a b", "XADD u2 01-02 a b",
                          "XADD u3 +5-+6 a b", "XRANGE u3 - +"]),
    // A key named twice: each occurrence sees what the one before delivered.
    DiffCase("xreadgroup key twice", ["XADD s 1-1 a 1", "XADD s 2-1 a 1", "XADD t 1-1 a 1", "XGROUP CREATE s g 0", "XGROUP CREATE t g 0",
                                      "XREADGROUP GROUP g c COUNT 1 STREAMS s s > >", "XREADGROUP GROUP g c STREAMS s t s > > >",
                                      "XADD s 3-1 a 1", "XREADGROUP GROUP g c STREAMS s s 0 >", "XREADGROUP GROUP g c STREAMS s s > >",
                                      "XREAD STREAMS s s 0 2-1", "%XPENDING s g - + 10"]),
    // Redis 7.0 answers `ms-*` on a used-up sequence as if the entry were too large.
    DiffCase("xadd sequence used up", ["XADD s 5-18446744073709551615 a 1", "XADD s 5-* a 1", "XADD s NOMKSTREAM MAXLEN 0 5-* a 1",
                                       "XADD s 4-* a 1", "XADD s 6-* a 1", "XLEN s", "XINFO STREAM s"]),
    DiffCase("xadd nomkstream", ["XADD s NOMKSTREAM 1-1 a b", "EXISTS s", "XADD s 1-1 a b", "XADD s NOMKSTREAM 2-1 a b",
                                 "XLEN s", "XADD s NOMKSTREAM", "XADD s NOMKSTREAM *"]),
    DiffCase("xadd trim options", ["XADD s MAXLEN 2 1-1 a 1", "XADD s MAXLEN 2 2-1 a 1", "XADD s MAXLEN = 2 3-1 a 1",
                                   "XRANGE s - +", "XADD s MAXLEN -1 4-1 a 1", "XADD s MAXLEN x 4-1 a 1",
                                   "XADD s MAXLEN 2 LIMIT 5 4-1 a 1", "XADD s MAXLEN ~ 2 LIMIT -1 4-1 a 1",
                                   "XADD s MAXLEN 1 MINID 0 4-1 a 1", "XADD s MINID 3-1 4-1 a 1", "XRANGE s - +",
                                   "XADD s MINID x 5-1 a 1", "XADD s MINID ~ 0 5-1 a 1", "XADD s MAXLEN",
                                   "XADD s LIMIT 10 6-1 a 1", "XADD s MAXLEN ~ 1 LIMIT 0 7-1 a 1", "XLEN s"]),
    DiffCase("approximate trimming follows nodes", (1...250).map { "XADD s \($0)-1 field value\($0)" } + [
        "XTRIM s MAXLEN ~ 150", "XLEN s", "XTRIM s MAXLEN ~ 10", "XLEN s", "XRANGE s - + COUNT 1",
        "XTRIM s MAXLEN 5", "XLEN s", "XRANGE s - +", "XTRIM s MINID ~ 248", "XLEN s", "XTRIM s MINID 249", "XLEN s",
    ]),
    DiffCase("node bytes split nodes", (1...120).map { "XADD s \($0)-1 f \(String(repeating: "v", count: 200))" } + [
        "XTRIM s MAXLEN ~ 100", "XLEN s", "XTRIM s MAXLEN ~ 30 LIMIT 20", "XLEN s", "~XINFO STREAM s",
    ]),
    DiffCase("node limits by config", ["CONFIG SET stream-node-max-entries 3"] + (1...10).map { "XADD s \($0)-1 a \($0)" } + [
        "XTRIM s MAXLEN ~ 5", "XLEN s", "CONFIG SET stream-node-max-entries 100", "CONFIG SET stream-node-max-bytes 0",
        "XTRIM s MAXLEN ~ 2", "XLEN s", "CONFIG SET stream-node-max-bytes 4096",
    ]),
    DiffCase("xtrim", ["XTRIM nokey MAXLEN 1", "XTRIM nokey FOO", "XADD s 1-1 a 1", "XADD s 2-1 a 1", "XADD s 3-1 a 1",
                       "XTRIM s", "XTRIM s FOO 1", "XTRIM s MAXLEN 5", "XTRIM s MAXLEN 2", "XTRIM s MINID 3-1",
                       "XRANGE s - +", "XTRIM s MAXLEN 0", "XLEN s", "EXISTS s", "XTRIM s MAXLEN = 1 LIMIT 3",
                       "XTRIM s MINID -", "XTRIM s MAXLEN ~ 0 LIMIT 1", "XTRIM s LIMIT 1", "XTRIM s MINID +"]),
    // XRANGE / XREVRANGE
    DiffCase("xrange", ["XADD s 1-1 a 1", "XADD s 1-2 b 2", "XADD s 2-1 c 3", "XADD s 3-5 d 4", "XRANGE s - +",
                        "XRANGE s 1 1", "XRANGE s 1-2 +", "XRANGE s (1-1 +", "XRANGE s - (3-5", "XRANGE s (1 +",
                        "XRANGE s - + COUNT 2", "XRANGE s - + COUNT 0", "XRANGE s - + COUNT -1", "XRANGE s - + COUNT x",
                        "XRANGE s - + FOO", "XRANGE s - + COUNT", "XRANGE s x +", "XRANGE s - y", "XRANGE s (- +",
                        "XRANGE s - (+", "XRANGE s (18446744073709551615-18446744073709551615 +", "XRANGE s - (0-0",
                        "XRANGE s 3 1", "XRANGE nokey - +", "XREVRANGE s + -", "XREVRANGE s + - COUNT 1",
                        "XREVRANGE s 2 1", "XREVRANGE s (3-5 -", "XREVRANGE s + (1-2", "XREVRANGE s - +",
                        "XRANGE s 1-1 1-1", "XRANGE s 2-0 2-0", "XRANGE nokey - + COUNT 0", "XRANGE nokey - + COUNT -1",
                        "XREVRANGE nokey + - COUNT 0", "XRANGE s 3 1 COUNT 0", "XREVRANGE s + - COUNT 0"]),
    // XDEL and tombstones
    DiffCase("xdel", ["XDEL nokey 1-1", "XADD s 1-1 a 1", "XADD s 2-1 a 2", "XADD s 3-1 a 3", "XDEL s 2-1 9-9",
                      "XDEL s 2-1", "XDEL s x", "XDEL s - ", "XRANGE s - +", "XLEN s", "XDEL s 1-1 3-1", "XLEN s",
                      "EXISTS s", "XADD s 2-5 a 1", "XADD s 4-1 a 1", "XRANGE s - +"]),
    // XSETID
    DiffCase("xsetid", ["XSETID nokey 1-1", "XADD s 5-1 a 1", "XSETID s 4-1", "XSETID s 5-1", "XSETID s 10-1",
                        "XADD s 9-1 a 1", "~XADD s * a 1", "XSETID s 20-1 ENTRIESADDED 0", "XSETID s 20-1 ENTRIESADDED -1",
                        "XSETID s 20-1 ENTRIESADDED 10 MAXDELETEDID 25-1", "XSETID s 20-1 MAXDELETEDID 15-1",
                        "XSETID s 20-1 ENTRIESADDED x", "XSETID s 20-1 FOO", "XSETID s x", "XSETID s 14-1",
                        "~XINFO STREAM s", "XDEL s 5-1", "XSETID s 1-1"]),
    // Groups
    DiffCase("xgroup create", ["XGROUP CREATE s g $", "XGROUP CREATE s g $ MKSTREAM", "XGROUP CREATE s g $ MKSTREAM",
                               "XGROUP CREATE s g2 0", "XGROUP CREATE s g3 x", "XGROUP CREATE s g4 0 ENTRIESREAD -2",
                               "XGROUP CREATE s g5 0 ENTRIESREAD 3", "XGROUP CREATE s g6 0 FOO", "XGROUP CREATE s g7",
                               "XGROUP FOO", "XGROUP", "XGROUP HELP", "XINFO GROUPS s", "XGROUP CREATE s g8 - ",
                               "XGROUP CREATE s g9 + "]),
    DiffCase("xgroup consumers", ["XADD s 1-1 a 1", "XGROUP CREATECONSUMER s g c", "XGROUP CREATE s g 0",
                                  "XGROUP CREATECONSUMER s g c", "XGROUP CREATECONSUMER s g c", "XGROUP DELCONSUMER s g d",
                                  "XREADGROUP GROUP g c STREAMS s >", "XGROUP DELCONSUMER s g c", "XPENDING s g",
                                  "XGROUP DESTROY s g", "XGROUP DESTROY s g", "XGROUP DESTROY nokey g",
                                  "XGROUP DELCONSUMER s nog c", "XGROUP SETID s nog 0"]),
    DiffCase("xgroup setid and lag", ["XADD s 1-1 a 1", "XADD s 2-1 a 2", "XADD s 3-1 a 3", "XGROUP CREATE s g 0",
                                      "XINFO GROUPS s", "XGROUP SETID s g 2-1", "XINFO GROUPS s",
                                      "XGROUP SETID s g $", "XINFO GROUPS s", "XGROUP SETID s g 0 ENTRIESREAD 1",
                                      "XINFO GROUPS s", "XGROUP SETID s g 0 ENTRIESREAD", "XGROUP SETID s g x",
                                      "XGROUP SETID s g - ", "XINFO GROUPS s", "XDEL s 2-1", "XGROUP SETID s g 1-1",
                                      "XINFO GROUPS s", "XGROUP CREATE s g2 0", "XINFO GROUPS s", "XTRIM s MAXLEN 1",
                                      "XINFO GROUPS s", "XSETID s 9-1 ENTRIESADDED 50", "XINFO GROUPS s"]),
    // XREADGROUP, XACK, XPENDING
    DiffCase("xreadgroup basics", ["XADD s 1-1 a 1", "XADD s 2-1 b 2", "XADD s 3-1 c 3", "XGROUP CREATE s g 0",
                                   "XREADGROUP GROUP g alice COUNT 1 STREAMS s >", "XREADGROUP GROUP g bob STREAMS s >",
                                   "XREADGROUP GROUP g bob STREAMS s >", "XPENDING s g", "XREADGROUP GROUP g alice STREAMS s 0",
                                   "XREADGROUP GROUP g bob STREAMS s 0", "XREADGROUP GROUP g bob COUNT 1 STREAMS s 1-1",
                                   "XREADGROUP GROUP g carol STREAMS s 0", "XINFO GROUPS s", "XACK s g 2-1 9-9",
                                   "XACK s g 2-1", "XACK s g x", "XACK s nog 1-1", "XACK nokey g 1-1", "XPENDING s g",
                                   "XDEL s 3-1", "XREADGROUP GROUP g bob STREAMS s 0", "XINFO GROUPS s"]),
    DiffCase("xreadgroup errors", ["XREADGROUP GROUP g c STREAMS s >", "XADD s 1-1 a 1", "XREADGROUP GROUP g c STREAMS s >",
                                   "XGROUP CREATE s g 0", "XREADGROUP GROUP g c STREAMS s $", "XREADGROUP GROUP g c STREAMS s",
                                   "XREADGROUP GROUP g c STREAMS s > x", "XREADGROUP COUNT 1 STREAMS s >",
                                   "XREADGROUP GROUP g c COUNT x STREAMS s >", "XREADGROUP GROUP g c BLOCK -1 STREAMS s >",
                                   "XREADGROUP GROUP g c FOO STREAMS s >", "XREADGROUP GROUP g c STREAMS s x",
                                   "XREADGROUP GROUP g c NOACK STREAMS s >", "XPENDING s g",
                                   "XREADGROUP GROUP g c STREAMS s >", "XREADGROUP GROUP g c STREAMS s 0"]),
    DiffCase("xreadgroup two streams", ["XADD a 1-1 x 1", "XADD b 1-1 y 1", "XGROUP CREATE a g 0", "XGROUP CREATE b g 0",
                                        "XREADGROUP GROUP g c STREAMS a b > >", "XREADGROUP GROUP g c STREAMS a b > >",
                                        "XREADGROUP GROUP g c STREAMS a b 0 0", "XADD b 2-1 y 2",
                                        "XREADGROUP GROUP g c STREAMS a b > >", "XREADGROUP GROUP g c STREAMS a nokey > >"]),
    DiffCase("xpending forms", ["XADD s 1-1 a 1", "XADD s 2-1 a 2", "XADD s 3-1 a 3", "XGROUP CREATE s g 0",
                                "XREADGROUP GROUP g alice COUNT 2 STREAMS s >", "XREADGROUP GROUP g bob STREAMS s >",
                                "XPENDING s g", "~XPENDING s g - + 10", "~XPENDING s g - + 10 bob", "XPENDING s g - + 0",
                                "XPENDING s g - + 10 nobody", "~XPENDING s g (1-1 + 10", "~XPENDING s g IDLE 0 - + 10",
                                "XPENDING s g IDLE 99999999 - + 10", "XPENDING s g - + x", "XPENDING s g x + 10",
                                "XPENDING s g - + 10 a b", "XPENDING s g IDLE 1 - +", "XPENDING s nog",
                                "XPENDING s g (18446744073709551615-18446744073709551615 + 10", "XPENDING s g - (0-0 10",
                                "XPENDING s g -", "XPENDING s g - + -5"]),
    // XCLAIM / XAUTOCLAIM
    DiffCase("xclaim", ["XADD s 1-1 a 1", "XADD s 2-1 a 2", "XADD s 3-1 a 3", "XGROUP CREATE s g 0",
                        "XREADGROUP GROUP g alice STREAMS s >", "XCLAIM s g bob 0 1-1", "XCLAIM s g bob 0 2-1 JUSTID",
                        "XPENDING s g", "~XPENDING s g - + 10", "XCLAIM s g bob 999999 3-1", "XCLAIM s g bob 0 9-9",
                        "XCLAIM s g bob 0 3-1 RETRYCOUNT 7 JUSTID", "~XPENDING s g - + 10",
                        "XCLAIM s g carol 0 3-1 IDLE 5000 JUSTID", "XCLAIM s g carol 0 3-1 TIME x",
                        "XCLAIM s g carol 0 3-1 FOO", "XCLAIM s g carol x 3-1", "XCLAIM s nog carol 0 3-1",
                        "XDEL s 1-1", "XCLAIM s g carol 0 1-1", "XPENDING s g", "XCLAIM s g carol 0 2-1 LASTID 5-1 JUSTID",
                        "XINFO GROUPS s", "XADD s 4-1 a 4", "XCLAIM s g dave 0 4-1", "XCLAIM s g dave 0 4-1 FORCE JUSTID",
                        "~XPENDING s g - + 10", "XINFO GROUPS s", "XCLAIM s g carol 0 x"]),
    // Delivery counts: XCLAIM FORCE creates the pending entry as delivered once (then +1
    // unless JUSTID); re-reading history counts only entries still in the stream.
    DiffCase("delivery counts of forced claims and history reads", [
        "XADD s 1-1 a 1", "XADD s 2-1 a 2", "XADD s 3-1 a 3", "XGROUP CREATE s g $", "XCLAIM s g c 0 1-1 FORCE JUSTID",
        "%XPENDING s g - + 10", "XCLAIM s g c 0 2-1 FORCE", "%XPENDING s g - + 10", "XCLAIM s g c 0 3-1 FORCE RETRYCOUNT 5",
        "XCLAIM s g c 0 9-9 FORCE", "%XPENDING s g - + 10", "XDEL s 2-1", "XREADGROUP GROUP g c STREAMS s 0",
        "%XPENDING s g - + 10", "XTRIM s MAXLEN 0", "XREADGROUP GROUP g c COUNT 2 STREAMS s 0", "%XPENDING s g - + 10",
        "%XINFO STREAM s FULL", "%XINFO CONSUMERS s g",
    ]),
    DiffCase("xsetid below the current max-deleted-entry-id", [
        "XADD s 5-0 a 1", "XADD s 6-0 a 1", "XDEL s 6-0", "XSETID s 5-0", "XINFO STREAM s", "XDEL s 5-0",
        "XSETID s 4-0", "XSETID s 4-0 MAXDELETEDID 3-0", "XSETID s 2-0 MAXDELETEDID 3-0", "XINFO STREAM s",
    ]),
    // Redis signals a stream key as modified (WATCH, client tracking) when entries change or
    // the key is created, not for consumer-group state: a WATCHed stream that consumers read
    // and acknowledge does not abort the watcher's transaction.
    DiffCase("group changes do not touch watched keys", [
        "XADD s 1-0 f v", "@1 WATCH s", "XGROUP CREATE s g 0", "XREADGROUP GROUP g c STREAMS s >", "XACK s g 1-0",
        "XCLAIM s g c2 0 1-0 FORCE", "XAUTOCLAIM s g c3 0 0", "XGROUP SETID s g 0", "XGROUP CREATECONSUMER s g c4",
        "XGROUP DELCONSUMER s g c4", "XSETID s 5-0", "XREADGROUP GROUP g c STREAMS s 0", "XGROUP DESTROY s g",
        "@1 MULTI", "@1 PING", "@1 EXEC", "@1 WATCH s2", "XGROUP CREATE s2 g $ MKSTREAM", "@1 MULTI", "@1 PING",
        "@1 EXEC", "@1 WATCH s", "XDEL s 1-0", "@1 MULTI", "@1 PING", "@1 EXEC",
    ]),
    DiffCase("xautoclaim", ["XADD s 1-1 a 1", "XADD s 2-1 a 2", "XADD s 3-1 a 3", "XADD s 4-1 a 4",
                            "XGROUP CREATE s g 0", "XREADGROUP GROUP g alice STREAMS s >", "XAUTOCLAIM s g bob 0 0 COUNT 2",
                            "XAUTOCLAIM s g bob 0 3-1 COUNT 1 JUSTID", "XAUTOCLAIM s g bob 0 (3-1", "XDEL s 1-1 2-1",
                            "XAUTOCLAIM s g carol 0 0", "XPENDING s g", "XAUTOCLAIM s g carol 999999 0",
                            "XAUTOCLAIM s g carol 0 0 COUNT 0", "XAUTOCLAIM s g carol 0 0 FOO", "XAUTOCLAIM s nog c 0 0",
                            "XAUTOCLAIM s g c x 0", "XAUTOCLAIM s g c 0 x", "XAUTOCLAIM nokey g c 0 0",
                            "XAUTOCLAIM s g carol 0 - JUSTID", "~XINFO CONSUMERS s g"]),
    // XREAD
    DiffCase("xread", ["XREAD STREAMS s 0", "XADD s 1-1 a 1", "XADD s 2-1 b 2", "XREAD STREAMS s 0", "XREAD COUNT 1 STREAMS s 0",
                       "XREAD STREAMS s 2-1", "XREAD STREAMS s $", "XREAD STREAMS s nokey 0 0", "XREAD STREAMS s",
                       "XREAD STREAMS s >", "XREAD GROUP g c STREAMS s 0", "XREAD NOACK STREAMS s 0", "XREAD FOO",
                       "XREAD COUNT 1", "XREAD BLOCK x STREAMS s 0", "XREAD BLOCK -1 STREAMS s 0", "XREAD COUNT -1 STREAMS s 0",
                       "XREAD STREAMS s x", "XREAD BLOCK 0 STREAMS s 0", "XADD t 1-1 c 1", "XREAD STREAMS t s 0 1-1"]),
    DiffCase("xread block", ["XADD s 1-1 a 1", "@1 XREAD BLOCK 0 STREAMS s $", "XADD s 2-1 b 2", "@1 ?",
                             "@1 XREAD BLOCK 50 STREAMS s $", "sleep:100", "@1 ?", "@2 XREAD BLOCK 0 STREAMS s nokey $ $",
                             "XADD nokey 5-1 c 1", "@2 ?", "MULTI", "XREAD BLOCK 0 STREAMS s $", "EXEC"]),
    // A blocked group reader's key is looked at after the command: gone → UNBLOCKED; replaced
    // (RENAME, COPY, DEL + XADD in a transaction) → served from the new stream, or NOGROUP.
    DiffCase("group readers when their key is replaced or deleted", [
        "XADD s 1-0 f v", "XGROUP CREATE s g $", "XADD t 2-0 f v", "@1 XREADGROUP GROUP g c BLOCK 0 STREAMS s >",
        "RENAME t s", "@1 ?", "XGROUP CREATE s g $", "XADD u 3-0 f v", "XGROUP CREATE u g 0",
        "@1 XREADGROUP GROUP g c BLOCK 0 STREAMS s >", "COPY u s REPLACE", "@1 ?", "XGROUP CREATE v g $ MKSTREAM",
        "@1 XREADGROUP GROUP g c BLOCK 0 STREAMS s >", "RENAME v s", "@1 ?", "MULTI", "DEL s",
        "XGROUP CREATE s g 0 MKSTREAM", "XADD s 5-0 a b", "EXEC", "@1 ?", "@2 XREADGROUP GROUP g c BLOCK 0 STREAMS s >",
        "DEL s", "@2 ?", "@1 XREAD BLOCK 0 STREAMS s 0", "XADD s 6-0 a b", "@1 ?",
    ]),
    // A reader served by another client's XADD runs its next pipelined command after that
    // client's whole pipeline (Redis runs unblocked clients' input in beforeSleep): here the
    // FLUSHALL comes first, so the second read fails at once instead of blocking.
    DiffCase("pipelined commands of a served reader wait for the writer's pipeline", [
        "XADD s 1-0 f v", "XGROUP CREATE s g $", "@1 raw:*9\\r\\n$10\\r\\nXREADGROUP\\r\\n$5\\r\\nGROUP\\r\\n$1\\r\\ng\\r\\n$1\\r\\nc\\r\\n$5\\r\\nBLOCK\\r\\n$1\\r\\n0\\r\\n$7\\r\\nSTREAMS\\r\\n$1\\r\\ns\\r\\n$1\\r\\n>\\r\\n*9\\r\\n$10\\r\\nXREADGROUP\\r\\n$5\\r\\nGROUP\\r\\n$1\\r\\ng\\r\\n$1\\r\\nc\\r\\n$5\\r\\nBLOCK\\r\\n$1\\r\\n0\\r\\n$7\\r\\nSTREAMS\\r\\n$1\\r\\ns\\r\\n$1\\r\\n>\\r\\n",
        "raw:*5\\r\\n$4\\r\\nXADD\\r\\n$1\\r\\ns\\r\\n$3\\r\\n2-0\\r\\n$1\\r\\nf\\r\\n$1\\r\\nv\\r\\n*1\\r\\n$8\\r\\nFLUSHALL\\r\\n", "@1 ?",
    ]),
    // XGROUP DESTROY signals the key: plain readers behind the stream's last ID are served.
    DiffCase("xgroup destroy wakes the key's readers", [
        "XADD t 1-0 f v", "XGROUP CREATE t g $", "@2 XREADGROUP GROUP g c BLOCK 0 STREAMS t >", "XSETID t 22-5",
        "@1 XREAD BLOCK 0 STREAMS t 2-0", "XGROUP DESTROY t g", "@1 ?", "@2 ?",
    ]),
    DiffCase("xread block fifo", ["XADD s 1-1 a 1", "@1 XREAD BLOCK 0 STREAMS s $", "@2 XREAD BLOCK 0 STREAMS s $",
                                  "XADD s 2-1 b 2", "@1 ?", "@2 ?"]),
    DiffCase("xreadgroup block", ["XGROUP CREATE s g $ MKSTREAM", "@1 XREADGROUP GROUP g c1 BLOCK 0 STREAMS s >",
                                  "@2 XREADGROUP GROUP g c2 BLOCK 0 STREAMS s >", "XADD s 1-1 a 1", "@1 ?", "@2 ?",
                                  "XADD s 2-1 a 2", "@2 ?", "XPENDING s g", "@3 XREADGROUP GROUP g c3 BLOCK 0 STREAMS s >",
                                  "XGROUP DESTROY s g", "@3 ?"]),
    DiffCase("xinfo stream full arity", ["XADD s 1-1 a 1", "XINFO STREAM s FULL COUNT", "XINFO STREAM s FULL FOO 1",
                                         "XINFO STREAM s FULL COUNT 1 x"]),
    DiffCase("blocked group reader, key deleted", ["XGROUP CREATE s g $ MKSTREAM",
                                                   "@1 XREADGROUP GROUP g c BLOCK 0 STREAMS s >",
                                                   "@2 XREAD BLOCK 0 STREAMS s $", "DEL s", "@1 ?", "@2 ?",
                                                   "XADD s 9-1 k v", "@2 ?"]),
    DiffCase("blocked readers, rename and flush", ["XGROUP CREATE s g $ MKSTREAM", "XADD t 5-1 a 1",
                                                   "@1 XREADGROUP GROUP g c BLOCK 0 STREAMS s >",
                                                   "@2 XREAD BLOCK 0 STREAMS s 1-1", "RENAME s x", "@1 ?", "@2 ?",
                                                   "RENAME t s", "@2 ?", "@3 XREADGROUP GROUP g c BLOCK 0 STREAMS x >",
                                                   "FLUSHALL", "@3 ?"]),
    DiffCase("blocking read times out", ["XADD s 1-1 a 1", "XGROUP CREATE s g $", "@1 XREADGROUP GROUP g c BLOCK 30 STREAMS s >",
                                         "sleep:80", "@1 ?", "@1 XREAD BLOCK 30 STREAMS s $", "sleep:80", "@1 ?"]),
    // XINFO
    DiffCase("xinfo", ["XINFO STREAM nokey", "XINFO GROUPS nokey", "XINFO CONSUMERS nokey g", "XADD s 1-1 a 1",
                       "XADD s 2-1 a 2", "XGROUP CREATE s g 0", "XREADGROUP GROUP g c COUNT 1 STREAMS s >",
                       "XINFO STREAM s", "~XINFO STREAM s FULL", "~XINFO STREAM s FULL COUNT 1", "XINFO STREAM s FOO",
                       "XINFO STREAM s FULL COUNT x", "XINFO GROUPS s", "~XINFO CONSUMERS s g", "XINFO CONSUMERS s nog",
                       "XINFO HELP", "XINFO FOO", "XINFO", "XINFO STREAM"]),
    DiffCase("stream keyspace", ["XADD s 1-1 a 1", "TYPE s", "RENAME s t", "XLEN t", "EXPIRE t 100", "TTL t",
                                 "SCAN 0 TYPE stream", "DEL t", "XLEN t", "CONFIG SET notify-keyspace-events KEA",
                                 "@1 PSUBSCRIBE __key*__:*", "XADD s 1-1 a 1", "^@1 ?", "XGROUP CREATE s g 0", "^@1 ?",
                                 "XADD s MAXLEN 0 2-1 a 1", "^@1 ?", "XDEL s 9-9", "XSETID s 5-1", "^@1 ?",
                                 "XREADGROUP GROUP g c STREAMS s >", "^@1 ?", "CONFIG SET notify-keyspace-events \"\""]),
    // XAUTOCLAIM's COUNT: at most LONG_MAX/16, and Redis's up-front allocation of COUNT IDs
    // fails far below that (no claim happens then).
    DiffCase("xautoclaim count limits", [
        "XADD s 1-1 a 1", "XGROUP CREATE s g 0", "XREADGROUP GROUP g c STREAMS s >",
        "XAUTOCLAIM s g c 0 0 COUNT 576460752303423488", "XAUTOCLAIM s g c 0 0 COUNT 576460752303423487",
        "XAUTOCLAIM nokey g c 0 0 COUNT 576460752303423487", "XAUTOCLAIM s g c 0 0 COUNT 1000000000",
        "%XPENDING s g - + 10",
    ]),
    // Which check comes first when the key (or group) is missing: XDEL and XACK answer 0 before
    // looking at the IDs, XTRIM checks its options first, XINFO STREAM looks the key up first.
    DiffCase("missing key before argument errors", [
        "XDEL nokey x", "XDEL nokey 1-1 (1", "XACK nokey g x", "XADD s 1-1 a 1", "XACK s nog x", "XACK s nog -",
        "XGROUP CREATE s g 0", "XACK s g x", "XDEL s x", "XTRIM nokey MAXLEN x", "XTRIM nokey MINID x",
        "XTRIM nokey FOO", "XTRIM nokey LIMIT 1", "XTRIM nokey MAXLEN 0", "XTRIM s MAXLEN x",
        "XINFO STREAM nokey FOO", "XINFO STREAM nokey FULL COUNT x", "XINFO STREAM s FOO",
    ]),
    // radix-tree-keys/-nodes exactly: node master IDs with shared and differing byte prefixes,
    // then deletions and trims that drop nodes.
    DiffCase("xinfo stream radix tree counts", [
        "CONFIG SET stream-node-max-entries 2", "XADD s 1-1 a 1", "XINFO STREAM s", "XADD s 1-2 a 1", "XADD s 255-0 a 1",
        "XADD s 256-0 a 1", "XADD s 65536-7 a 1", "XADD s 65537-0 a 1", "XADD s 1700000000000-0 a 1",
        "XADD s 1700000000001-0 a 1", "XADD s 1700000000001-8589934592 a 1", "XINFO STREAM s", "XDEL s 255-0 256-0",
        "XINFO STREAM s", "XTRIM s MAXLEN ~ 3", "XINFO STREAM s", "XTRIM s MINID 1700000000001-0", "XINFO STREAM s",
        "XTRIM s MAXLEN 0", "XINFO STREAM s", "CONFIG SET stream-node-max-entries 100"]),
]
