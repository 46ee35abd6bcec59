import RunnelTestSupport

/// Command scripts run against redis-server 7.0 and Runnel; replies must match byte for byte
/// (or in shape, for `~` lines). Adding a case is one line.
let serverCoreCases: [DiffCase] = [
    // Connection
    DiffCase("ping", ["PING", "PING hello", "PING a b", "ping", "PiNg x"]),
    DiffCase("echo", ["ECHO hi", "ECHO", "ECHO a b", "ECHO \"\""]),
    DiffCase("select", ["SELECT 1", "SELECT 15", "SELECT 16", "SELECT -1", "SELECT x", "SELECT", "SELECT 01", "SELECT 0"]),
    DiffCase("unknown commands", ["foo", "foo a b c",
                                  "foo \(String(repeating: "x", count: 200)) \(String(repeating: "y", count: 50))",
                                  "\(String(repeating: "z", count: 140))"]),
    DiffCase("hello", ["HELLO 4", "HELLO x", "HELLO 2 FOO", "HELLO 2 SETNAME \"a b\"", "~HELLO 2 SETNAME conn1",
                       "CLIENT GETNAME", "~HELLO", "~HELLO 2 AUTH default anything", "HELLO 2 AUTH other pw",
                       "HELLO 2 AUTH default", "~HELLO 3", "PING", "~HELLO 2"]),
    // HELLO's options act one by one: a bad AUTH stops before a later bad option, a SETNAME
    // before a bad option stays done, and the protocol changes only if all succeed.
    DiffCase("hello options in order", [
        "HELLO 2 AUTH nobody x AUTH default x", "HELLO 2 AUTH nobody x SETNAME", "HELLO 3 SETNAME first FOO",
        "CLIENT GETNAME", "PING", "HELLO 3 SETNAME \"a b\" AUTH nobody x", "CLIENT GETNAME",
        "~HELLO 2 AUTH default x SETNAME second", "CLIENT GETNAME",
    ]),
    DiffCase("auth without password", ["AUTH x", "AUTH default x", "AUTH other x", "AUTH a b c"]),
    DiffCase("reset", ["SELECT 3", "CLIENT SETNAME n", "MULTI", "RESET", "CLIENT GETNAME", "EXEC", "DBSIZE"]),
    DiffCase("quit", ["QUIT"]),
    DiffCase("quit with args", ["QUIT now"]),
    // Keyspace
    DiffCase("del exists type", ["XADD s 1-1 f v", "XADD t 2-1 f v", "EXISTS s t u s", "TYPE s", "TYPE nope",
                                 "DEL s u", "EXISTS s", "UNLINK t", "DBSIZE", "DEL", "EXISTS", "TYPE", "TYPE a b"]),
    DiffCase("keys", ["XADD a1 1-1 f v", "XADD a2 1-1 f v", "XADD b1 1-1 f v", "^KEYS a?", "KEYS [a]1", "KEYS b*",
                      "KEYS x*", "KEYS [^a]1", "KEYS", "KEYS \\a1", "^KEYS a[0-1]", "^KEYS *"]),
    DiffCase("scan errors", ["SCAN x", "SCAN 0 COUNT 0", "SCAN 0 COUNT x", "SCAN 0 FOO 1", "SCAN 0 MATCH", "SCAN",
                             "SCAN -1", "SCAN 0 TYPE", "SCAN \"\"", "SCAN -", "SCAN +", "SCAN \" 1\"", "SCAN 0x",
                             "SCAN 000000000000000000000000", "SCAN 18446744073709551616", "SCAN \"\" IDLETIME 1"]),
    DiffCase("scan small", ["XADD k1 1-1 f v", "SCAN 0 COUNT 100", "SCAN 0 MATCH k* COUNT 100",
                            "SCAN 0 TYPE string COUNT 100", "SCAN 0 TYPE stream COUNT 100", "SCAN 0 MATCH zz COUNT 100"]),
    DiffCase("rename", ["RENAME a b", "XADD a 1-1 f v", "RENAME a b", "EXISTS a b", "RENAME b b", "XADD c 1-1 x y",
                        "RENAMENX b c", "RENAMENX b d", "RENAMENX nope e", "XRANGE d - +", "RENAME", "RENAMENX d d"]),
    DiffCase("move", ["MOVE a 1", "XADD a 1-1 f v", "EXPIRE a 1000", "MOVE a x", "MOVE a 16", "MOVE a -1",
                      "MOVE a 99999999999", "MOVE a 0", "MOVE a 1", "EXISTS a", "SELECT 1", "XRANGE a - +", "TTL a",
                      "XADD a 2-1 g w", "MOVE a 0", "SELECT 0", "XADD a 1-1 h u", "SELECT 1", "MOVE a 0", "MOVE"]),
    DiffCase("swapdb", ["XADD a 1-1 f v", "SELECT 1", "XADD b 1-1 f v", "XADD c 1-1 f v", "SWAPDB 0 1", "DBSIZE",
                        "XRANGE a - +", "SELECT 0", "DBSIZE", "XRANGE b - +", "SWAPDB 0 0", "DBSIZE", "SWAPDB x 1",
                        "SWAPDB 1 x", "SWAPDB 0 16", "SWAPDB -1 0", "SWAPDB 99999999999 0", "SWAPDB 1 0", "DBSIZE"]),
    DiffCase("copy", ["COPY a b", "XADD a 1-1 f v", "XADD a 2-1 g w", "XGROUP CREATE a grp 0", "XREADGROUP GROUP grp c COUNT 1 STREAMS a >",
                      "COPY a a", "COPY a b DB", "COPY a b DB x", "COPY a b DB 16", "COPY a b FOO", "COPY a b",
                      "COPY a b", "XADD b 3-1 h u", "XLEN a", "XLEN b", "XINFO GROUPS b", "XPENDING b grp",
                      "XREADGROUP GROUP grp c STREAMS b >", "XINFO GROUPS a", "COPY a b REPLACE", "XLEN b",
                      "EXPIRE a 1000", "COPY a c DB 3", "COPY a a DB 3", "SELECT 3", "TTL c", "XRANGE c - +", "COPY"]),
    DiffCase("object, touch, randomkey", ["RANDOMKEY", "OBJECT ENCODING a", "OBJECT IDLETIME a", "TOUCH a b", "XADD a 1-1 f v",
                                          "RANDOMKEY", "TOUCH a b", "OBJECT ENCODING a", "OBJECT REFCOUNT a", "OBJECT FREQ a",
                                          "OBJECT", "OBJECT FOO", "OBJECT ENCODING", "OBJECT ENCODING a b", "OBJECT HELP",
                                          "OBJECT HELP x", "~OBJECT IDLETIME a", "TOUCH", "RANDOMKEY x"]),
    DiffCase("hz is kept within 1…500", ["CONFIG SET hz 0", "CONFIG GET hz", "CONFIG SET hz 1000", "CONFIG GET hz",
                                          "CONFIG SET hz 10", "CONFIG GET hz"]),
    DiffCase("pubsub channel lists take one pattern", ["PUBSUB CHANNELS a b", "PUBSUB channels a b c",
                                                       "PUBSUB SHARDCHANNELS a b", "PUBSUB CHANNELS *"]),
    DiffCase("role, cluster, wait", ["ROLE", "ROLE x", "READONLY", "READWRITE", "ASKING", "ASKING x", "CLUSTER INFO",
                                     "CLUSTER", "CLUSTER HELP", "CLUSTER FOO", "CLUSTER INFO x", "CLUSTER KEYSLOT",
                                     "CLUSTER KEYSLOT a", "WAIT 0 0", "WAIT x 0", "WAIT 0 x", "WAIT 0 -1", "WAIT 1 10",
                                     "WAIT -1 0", "WAIT 2147483648 0", "WAIT 4294967296 0", "WAIT 9223372036854775807 0",
                                     "WAIT 4294967297 5", "MULTI", "WAIT 5 0", "EXEC", "MONITOR x", "MULTI", "MONITOR", "EXEC"]),
    DiffCase("replication, lolwut, debug", ["REPLICAOF", "REPLICAOF NO", "REPLICAOF x y", "REPLICAOF 127.0.0.1 x",
                                            "REPLICAOF no one", "SLAVEOF NO ONE", "FAILOVER", "FAILOVER x", "FAILOVER TO",
                                            "FAILOVER ABORT", "FAILOVER TO h 1", "FAILOVER TIMEOUT 5", "FAILOVER TIMEOUT -5",
                                            "FAILOVER TIMEOUT x", "FAILOVER FORCE", "LOLWUT", "LOLWUT VERSION x", "LOLWUT foo",
                                            "LOLWUT VERSION", "PSYNC", "PSYNC x y", "PSYNC ? 1x", "DEBUG", "DEBUG SLEEP 0", "DEBUG HELP"]),
    DiffCase("dump, restore errors", ["DUMP nokey", "DUMP", "XADD s 1-1 f v", "XADD s 2-1 f w g 12", "DUMP s",
                                      "RESTORE", "RESTORE s 0 garbage", "RESTORE t x garbage", "RESTORE t -1 garbage",
                                      "RESTORE t 0 garbage", "RESTORE t 0 garbage FOO", "RESTORE t 0 garbage IDLETIME -1",
                                      "RESTORE t 0 garbage IDLETIME x", "RESTORE t 0 garbage FREQ 256",
                                      "RESTORE t 0 garbage FREQ 5 IDLETIME 5", "RESTORE t 0 garbage IDLETIME",
                                      "RESTORE t 0 garbage REPLACE ABSTTL", "RESTORE s 0 garbage REPLACE", "EXISTS s t"]),
    // Debian's redis-server links liblzf 3.6, which takes a match up to the input's last three
    // bytes (Redis's bundled copy stops four bytes short): here the listpack's end.
    DiffCase("DUMP: LZF takes matches up to the end of the input", ["XADD s 1-1 b fff a xxxx b y",
                                                                   "XADD s 1-2 b fff a xxxx b \"\"",
                                                                   "XADD s 1-3 b fff a xxxx b y",
                                                                   "XADD s 1-4 b fff a xxxx b 219", "DUMP s"]),
    // A payload of Redis before 7.0 (`preRedis7StreamPayload`): each group's entries-read is
    // estimated from its last-delivered ID, as redis-server does when it loads one. The same
    // payload with a checksum of zeros is refused.
    DiffCase("RESTORE of a pre-7.0 stream payload; a zero checksum is wrong", [
        "RESTORE y 0 \"\(preRedis7StreamPayload)\(preRedis7StreamChecksum)\"",
        "XINFO GROUPS y", "%XINFO STREAM y FULL", "DEL y",
        "RESTORE y 0 \"\(preRedis7StreamPayload)\(String(repeating: "\\x00", count: 8))\"",
        "EXISTS y",
    ]),
    DiffCase("memory", ["MEMORY", "MEMORY FOO", "MEMORY USAGE nokey", "MEMORY USAGE nokey SAMPLES x",
                        "MEMORY USAGE nokey SAMPLES -1", "MEMORY USAGE nokey FOO", "MEMORY USAGE nokey SAMPLES",
                        "MEMORY USAGE nokey SAMPLES 0", "MEMORY PURGE", "MEMORY PURGE x", "MEMORY HELP", "MEMORY DOCTOR",
                        "MEMORY DOCTOR x", "MEMORY STATS x", "MEMORY MALLOC-STATS x", "XADD s 1-1 f v",
                        "~MEMORY USAGE s", "~MEMORY USAGE s SAMPLES 0"]),
    DiffCase("select range", ["SELECT 99999999999", "SELECT -2147483649", "SELECT 2147483647"]),
    DiffCase("expire", ["EXPIRE k 10", "XADD k 1-1 f v", "TTL k", "EXPIRE k 100", "TTL k", "PTTL nope", "TTL nope",
                        "PERSIST k", "TTL k", "PERSIST k", "EXPIRE k x", "EXPIRE k 10 NX", "EXPIRE k 20 NX", "TTL k",
                        "EXPIRE k 5 GT", "EXPIRE k 50 GT", "TTL k", "EXPIRE k 500 LT", "EXPIRE k 5 LT", "TTL k",
                        "EXPIRE k 1 XX NX", "EXPIRE k 1 GT LT", "EXPIRE k 1 FOO", "EXPIRE k 9223372036854775807",
                        "PEXPIRE k 9223372036854775807", "EXPIREAT k 9999999999", "EXPIRETIME k", "PEXPIRETIME k",
                        "EXPIRETIME nope", "PERSIST nope", "EXPIRE k -1", "EXISTS k", "XADD j 1-1 a b", "PEXPIRE j 20",
                        "sleep:60", "EXISTS j", "TTL j", "EXPIRE", "PEXPIREAT j 1"]),
    // Options are checked before the time value.
    DiffCase("expire option errors first", ["XADD k 1-1 f v", "EXPIRE k x FOO", "EXPIRE nope x FOO", "PEXPIRE k x NX XX",
                                            "EXPIREAT k x GT LT", "PEXPIREAT k 99999999999999999999 LT GT", "EXPIRE k x NX"]),
    DiffCase("expire xx on persistent", ["XADD k 1-1 f v", "EXPIRE k 10 XX", "EXPIRE k 10 GT", "EXPIRE k 10 LT", "TTL k"]),
    DiffCase("flush", ["XADD a 1-1 f v", "SELECT 1", "XADD b 1-1 f v", "FLUSHDB", "DBSIZE", "SELECT 0", "DBSIZE",
                       "FLUSHALL ASYNC", "DBSIZE", "FLUSHALL SYNC", "FLUSHALL FOO", "FLUSHDB a b", "FLUSHDB async"]),
    DiffCase("dbsize per db", ["XADD a 1-1 f v", "DBSIZE", "SELECT 2", "DBSIZE", "XADD a 1-1 f v", "XADD b 1-1 f v",
                               "DBSIZE", "DBSIZE x"]),
    DiffCase("save commands", ["SAVE", "SAVE x", "BGSAVE a b", "BGSAVE foo", "MULTI", "SAVE", "EXEC"]),
    DiffCase("background saves queued in a transaction are scheduled", ["MULTI", "BGSAVE", "BGREWRITEAOF", "BGSAVE", "BGREWRITEAOF", "EXEC"]),
    // Transactions
    DiffCase("multi exec", ["MULTI", "PING", "XADD s 1-1 a b", "XLEN s", "EXEC", "EXEC", "DISCARD"]),
    DiffCase("multi nested", ["MULTI", "MULTI", "WATCH x", "PING", "EXEC"]),
    DiffCase("multi queue errors", ["MULTI", "PING", "foo", "PING", "EXEC", "XLEN s"]),
    DiffCase("multi arity error", ["MULTI", "PING a b c", "EXEC"]),
    DiffCase("multi runtime error", ["MULTI", "SELECT 99", "PING", "EXEC"]),
    DiffCase("discard", ["MULTI", "PING", "DISCARD", "PING", "DISCARD"]),
    DiffCase("multi shutdown", ["MULTI", "SHUTDOWN", "EXEC"]),
    // CLIENT REPLY OFF and SKIP silence replies, never pushes (confirmations, messages).
    DiffCase("reply off keeps pushes", [
        "raw:CLIENT REPLY OFF\r\nSUBSCRIBE x\r\nPSUBSCRIBE y*\r\nSSUBSCRIBE z\r\nPUBLISH x self\r\nUNSUBSCRIBE\r\nPUNSUBSCRIBE\r\nSUNSUBSCRIBE\r\nPING\r\nCLIENT REPLY ON\r\nPING end\r\n",
        "raw:CLIENT REPLY SKIP\r\nSUBSCRIBE x\r\nPUNSUBSCRIBE\r\nCLIENT REPLY SKIP\r\nUNSUBSCRIBE x\r\nPING\r\n",
    ]),
    // CLIENT REPLY changes the flags at once: inside EXEC, OFF silences what follows (the array
    // header already went out), ON turns replies back on, SKIP applies after EXEC.
    DiffCase("client reply in transactions", [
        "raw:MULTI\r\nCLIENT REPLY OFF\r\nPING a\r\nEXEC\r\nCLIENT REPLY ON\r\nPING end\r\n",
        "raw:MULTI\r\nCLIENT REPLY SKIP\r\nPING a\r\nPING b\r\nEXEC\r\nPING c\r\nPING end\r\n",
        "raw:CLIENT REPLY OFF\r\nMULTI\r\nCLIENT REPLY ON\r\nPING x\r\nEXEC\r\nPING y\r\n",
        "raw:CLIENT REPLY SKIP\r\nCLIENT REPLY SKIP\r\nPING a\r\nPING b\r\n",
        "raw:CLIENT REPLY OFF\r\nCLIENT REPLY SKIP\r\nPING a\r\nRESET\r\nPING b\r\n",
        "raw:CLIENT REPLY SKIP\r\nRESET\r\nPING c\r\n",
    ]),
    // A client that killed itself gets nothing after that reply, even from the rest of its EXEC.
    DiffCase("client kill self in exec", ["raw:MULTI\r\nCLIENT KILL ID $ID0 SKIPME no\r\nPING\r\nEXEC\r\nPING\r\n"]),
    // A MONITOR client is a replica to Redis: no key reads or writes, no PUBLISH.
    DiffCase("monitor client keyspace", ["MONITOR", "XLEN s", "XADD s * a b", "PUBLISH ch m", "XREAD BLOCK 100 STREAMS s $",
                                         "SPUBLISH ch m", "EXISTS s"]),
    // Redis 7.0 keeps a client's patterns in a list: PUNSUBSCRIBE without arguments goes in
    // subscription order (channels are a hash table, so UNSUBSCRIBE's order is not compared).
    DiffCase("punsubscribe all in subscription order", [
        "raw:PSUBSCRIBE zz* b* a* c* m* q*\r\nPUNSUBSCRIBE\r\nPSUBSCRIBE k* j* h*\r\nPUNSUBSCRIBE j*\r\nPSUBSCRIBE a*\r\nPUNSUBSCRIBE\r\n",
    ]),
    // SUBSCRIBE and PSUBSCRIBE run inside EXEC (backward compatibility), SSUBSCRIBE is refused.
    DiffCase("multi subscribe", ["MULTI", "SUBSCRIBE a", "PSUBSCRIBE b*", "SSUBSCRIBE c", "PING", "EXEC", "PING", "UNSUBSCRIBE",
                                 "PUNSUBSCRIBE", "SUNSUBSCRIBE", "PING"]),
    DiffCase("watch touched", ["XADD k 1-1 a b", "WATCH k", "@1 XADD k 2-1 a b", "MULTI", "PING", "EXEC"]),
    DiffCase("watch untouched", ["XADD k 1-1 a b", "WATCH k", "@1 XADD other 2-1 a b", "MULTI", "PING", "EXEC"]),
    DiffCase("watch then unwatch", ["WATCH k", "@1 XADD k 1-1 a b", "UNWATCH", "MULTI", "PING", "EXEC"]),
    DiffCase("watch deleted", ["XADD k 1-1 a b", "WATCH k", "@1 DEL k", "MULTI", "PING", "EXEC"]),
    DiffCase("watch flushed", ["XADD k 1-1 a b", "WATCH k", "@1 FLUSHALL", "MULTI", "PING", "EXEC"]),
    DiffCase("watch missing flushed", ["WATCH k", "@1 FLUSHALL", "MULTI", "PING", "EXEC"]),
    DiffCase("watch arity", ["WATCH", "UNWATCH x", "MULTI x", "EXEC x"]),
    // Pub/Sub
    DiffCase("subscribe publish", ["@1 SUBSCRIBE news alerts", "PUBLISH news hello", "@1 ?", "PUBLISH nobody x",
                                   "PUBLISH alerts \"a b\"", "@1 ?", "@1 UNSUBSCRIBE news", "PUBLISH news again",
                                   "@1 ?", "@1 UNSUBSCRIBE", "@1 UNSUBSCRIBE", "@1 PING"]),
    DiffCase("psubscribe", ["@1 PSUBSCRIBE n* a?c", "PUBLISH news x", "@1 ?", "PUBLISH abc y", "@1 ?", "PUBLISH ab z",
                            "@1 PUNSUBSCRIBE n*", "PUBLISH news x", "@1 ?", "@1 PUNSUBSCRIBE", "@1 PUNSUBSCRIBE"]),
    DiffCase("channel and pattern", ["@1 SUBSCRIBE ch", "@1 PSUBSCRIBE c*", "PUBLISH ch m", "@1 ?", "PUBSUB NUMPAT",
                                     "PUBSUB NUMSUB ch other", "^PUBSUB CHANNELS", "PUBSUB CHANNELS x*"]),
    DiffCase("subscribed mode", ["SUBSCRIBE a", "PING", "PING x", "XLEN x", "MULTI", "SELECT 1", "foo",
                                 "PSUBSCRIBE p", "SSUBSCRIBE s", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "PING"]),
    DiffCase("sharded", ["@1 SSUBSCRIBE s1 s2", "SPUBLISH s1 hi", "@1 ?", "^PUBSUB SHARDCHANNELS", "PUBSUB SHARDNUMSUB s1 s3",
                         "PUBLISH s1 no", "@1 ?", "@1 SUNSUBSCRIBE s1", "@1 SUNSUBSCRIBE", "SPUBLISH s1 gone"]),
    DiffCase("subscribe in multi", ["MULTI", "SUBSCRIBE x", "PING", "EXEC", "UNSUBSCRIBE"]),
    DiffCase("subscribe arity", ["SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "PUBLISH a", "PUBLISH a b c", "PUBSUB",
                                 "PUBSUB FOO", "PUBSUB NUMPAT x", "PUBSUB HELP"]),
    DiffCase("duplicate subscribe", ["@1 SUBSCRIBE a a", "@1 SUBSCRIBE a", "PUBLISH a x", "@1 ?", "PUBSUB NUMSUB a"]),
    DiffCase("glob classes", ["@1 PSUBSCRIBE h[ae]llo h\\*x [^x]y [a-c]z [c-a]w *", "PUBLISH hello 1", "^@1 ?",
                              "PUBLISH h*x 2", "^@1 ?", "PUBLISH hx 3", "^@1 ?", "PUBLISH xy 4", "^@1 ?", "PUBLISH bz 5",
                              "^@1 ?", "PUBLISH bw 6", "^@1 ?"]),
    DiffCase("keyspace events", ["CONFIG SET notify-keyspace-events KEA", "@1 PSUBSCRIBE __key*__:*",
                                 "XADD s 1-1 a b", "@1 ?", "EXPIRE s 100", "@1 ?", "RENAME s t", "@1 ?", "DEL t", "@1 ?",
                                 "CONFIG SET notify-keyspace-events \"\""]),
    // A RESP3 client's own events and messages land inside its EXEC reply, between the
    // commands' replies (redis-server 7.0 writes pushes at once); RESP2 refuses MULTI there.
    DiffCase("own pushes inside exec", ["CONFIG SET notify-keyspace-events KEA", "SUBSCRIBE __keyspace@0__:s ch",
                                        "MULTI", "XADD s 1-0 f v", "XGROUP CREATE s g 0",
                                        "XREADGROUP GROUP g c STREAMS s >", "PUBLISH ch m", "EXEC", "DEL s",
                                        "UNSUBSCRIBE ch __keyspace@0__:s", "CONFIG SET notify-keyspace-events \"\""]),
    // Server
    // Types and ranges of redis-server 7.0's config table, names checked before values, the
    // directive's own name in value errors, memory values as memtoull reads them.
    // Save rules: pairs of seconds (>= 1) and changes (>= 0), read by strtoll, printed back
    // normalized; the changes are a C int.
    DiffCase("config set save", [
        "CONFIG SET save bad", "CONFIG SET save \"900 1 300\"", "CONFIG SET save \"0 1\"", "CONFIG SET save \"1 -1\"",
        "CONFIG SET save \" 5 6\"", "CONFIG SET save \"5 6 \"", "CONFIG SET save \"1x 2\"", "CONFIG GET save",
        "CONFIG SET save \"0900 +01 3000 4294967297\"", "CONFIG GET save", "CONFIG SET save \"7 \"", "CONFIG GET save",
        "CONFIG SET save \"99999999999999999999 5\"", "CONFIG GET save", "CONFIG SET save \"\"", "CONFIG GET save",
    ]),
    DiffCase("config set validation", [
        "CONFIG SET active-expire-effort 11", "CONFIG SET active-expire-effort 1gb", "CONFIG SET maxmemory-samples 0",
        "CONFIG SET maxmemory-samples 9223372036854775807", "CONFIG SET hash-max-listpack-entries -1",
        "CONFIG SET hash-max-ziplist-entries x", "CONFIG SET list-max-listpack-size 9223372036854775807",
        "CONFIG SET tracking-table-max-keys 1k", "CONFIG SET set-max-intset-entries 10mb slowlog-log-slower-than 1k",
        "CONFIG SET zset-max-listpack-entries -5 activedefrag maybe", "CONFIG SET lfu-decay-time x lfu-decay-time y",
        "CONFIG SET hz 5 nosuch 1", "CONFIG SET hz x socket-mark-id 5", "CONFIG SET hz +5", "CONFIG SET hz 007",
        "CONFIG SET activedefrag yes", "CONFIG SET activedefrag no", "CONFIG SET repl-timeout 0",
        "CONFIG SET maxmemory-clients 10%", "CONFIG GET maxmemory-clients", "CONFIG SET maxmemory-clients 101%",
        "CONFIG SET maxmemory-clients -1", "CONFIG SET maxmemory-clients 1x", "CONFIG SET maxmemory-clients 0",
        "CONFIG SET stream-node-max-bytes \"\"", "CONFIG GET stream-node-max-bytes", "CONFIG SET stream-node-max-bytes kb",
        "CONFIG SET stream-node-max-bytes 4096", "CONFIG SET maxmemory 1.5gb", "CONFIG SET maxmemory -1",
        "CONFIG SET hll-sparse-max-bytes 1x", "CONFIG SET repl-backlog-size 0",
        "CONFIG SET client-output-buffer-limit \"pubsub 1 1 2147483648\"", "CONFIG SET client-output-buffer-limit \"pubsub 1 1 -1\"",
        "CONFIG SET client-output-buffer-limit \"pubsub 1x 1 1\"", "CONFIG SET client-output-buffer-limit \"master 1 1 1\"",
        "CONFIG SET client-output-buffer-limit \"pubsub 1 1\"", "CONFIG SET client-output-buffer-limit \"pubsub 1 1 4294967296\"",
        "CONFIG GET client-output-buffer-limit", "CONFIG SET client-output-buffer-limit \"pubsub 32mb 8mb 60\"",
    ]),
    // Multi-word values split at single spaces, flag enums printed in declaration order, memory
    // values past 2^63, the backlog's 16 KiB floor, names in value errors, alias and directive.
    DiffCase("config set multi-word and edge values", [
        "CONFIG SET oom-score-adj-values -1", "CONFIG SET oom-score-adj-values \"1 2\"",
        "CONFIG SET oom-score-adj-values \"-2001 0 0\"", "CONFIG SET oom-score-adj-values \"1  2\"",
        "CONFIG GET oom-score-adj-values", "CONFIG SET oom-score-adj-values \"+5 05 x\"",
        "CONFIG SET oom-score-adj-values \"+5 05 -0\"", "CONFIG GET oom-score-adj-values",
        "CONFIG SET oom-score-adj-values \"0 200 800\"",
        "CONFIG SET shutdown-on-sigint x", "CONFIG SET shutdown-on-sigint \"\"", "CONFIG SET shutdown-on-sigint \"nosave save\"",
        "CONFIG SET shutdown-on-sigint \"force now SAVE\"", "CONFIG GET shutdown-on-sigint",
        "CONFIG SET shutdown-on-sigint \"default now now\"", "CONFIG GET shutdown-on-sigint",
        "CONFIG SET shutdown-on-sigterm \"save  now\"", "CONFIG SET shutdown-on-sigterm DEFAULT", "^CONFIG GET shutdown-on-sig*",
        "CONFIG SET shutdown-on-sigint default",
        "CONFIG SET hll-sparse-max-bytes 9223372036854775808", "CONFIG SET proto-max-bulk-len 18446744073709551616",
        "CONFIG SET stream-node-max-bytes 18446744073709551616kb", "CONFIG SET maxmemory-clients 18446744073709551615",
        "CONFIG GET maxmemory-clients", "CONFIG SET maxmemory-clients 0",
        "CONFIG SET maxmemory 18446744073709551615", "CONFIG GET maxmemory", "CONFIG SET maxmemory 99999999999999999999999",
        "CONFIG GET maxmemory", "CONFIG SET maxmemory 9223372036854775808", "CONFIG GET maxmemory",
        "CONFIG SET maxmemory 17179869184gb", "CONFIG GET maxmemory", "CONFIG SET maxmemory 0",
        "CONFIG SET client-output-buffer-limit \" \"", "CONFIG SET client-output-buffer-limit \"pubsub  1 1 1\"",
        "CONFIG SET client-output-buffer-limit \"replica 18446744073709551616 1 1\"", "CONFIG GET client-output-buffer-limit",
        "CONFIG SET client-output-buffer-limit \"replica 256mb 64mb 60\"",
        "CONFIG SET repl-backlog-size 100", "CONFIG GET repl-backlog-size", "CONFIG SET repl-backlog-size 1mb",
        "CONFIG SET HZ x", "CONFIG SET SLAVE-READ-ONLY x", "CONFIG SET slave-read-only no replica-read-only yes",
        "CONFIG GET replica-read-only", "CONFIG SET Replica-Read-Only yes REPLICA-read-only no",
        "CONFIG SET maxclients 4294967296", "CONFIG SET maxclients 0", "CONFIG SET replicaof \"\"",
        "CONFIG SET slaveof \"127.0.0.1 1\"", "CONFIG SET tls-auth-clients maybe", "CONFIG SET ignore-warnings ARM64-COW-BUG",
        "CONFIG GET ignore-warnings", "CONFIG SET ignore-warnings \"\"",
        "CONFIG SET latency-tracking-info-percentiles inf", "CONFIG SET latency-tracking-info-percentiles \"1 \"",
        "CONFIG SET latency-tracking-info-percentiles -inf", "CONFIG SET latency-tracking-info-percentiles \"0x10 1e1\"",
        "CONFIG GET latency-tracking-info-percentiles", "CONFIG SET latency-tracking-info-percentiles \"50 99 99.9\"",
    ]),
    DiffCase("copy db range", ["XADD cs 1-1 f v", "COPY cs ct DB x", "COPY cs ct DB -1", "COPY cs ct DB 16",
                               "COPY cs ct DB 2147483648", "COPY cs ct DB 9223372036854775808", "COPY cs ct DB 3", "COPY cs ct DB 3"]),
    DiffCase("config get set", ["CONFIG GET maxclients", "^CONFIG GET timeout hz", "CONFIG GET nosuch",
                                "CONFIG SET hz 20", "CONFIG GET hz", "CONFIG SET hz 10", "CONFIG SET hz x",
                                "CONFIG SET hz -1", "CONFIG SET nosuch 1", "CONFIG SET hz 1 hz 2",
                                "CONFIG SET appendfsync bad", "CONFIG SET appendonly maybe", "CONFIG SET maxmemory 1x",
                                "CONFIG SET databases 3", "CONFIG SET timeout -1", "CONFIG SET loglevel foo",
                                "CONFIG SET dir /tmp", "CONFIG SET dbfilename x.rdb", "CONFIG SET maxclients 10 dir /tmp",
                                "CONFIG SET enable-protected-configs yes",
                                "CONFIG SET client-output-buffer-limit \"pubsub 1\"", "CONFIG SET hz 1 x",
                                "CONFIG SET notify-keyspace-events Zq", "CONFIG SET notify-keyspace-events KEA",
                                "CONFIG GET notify-keyspace-events", "CONFIG SET notify-keyspace-events Et",
                                "CONFIG GET notify-keyspace-events", "CONFIG SET notify-keyspace-events \"\"",
                                "CONFIG SET maxmemory 10mb", "CONFIG GET maxmemory", "CONFIG SET maxmemory 0",
                                "CONFIG GET stream-node-max-entries", "CONFIG GET slowlog-max-len", "CONFIG GET",
                                "CONFIG SET", "CONFIG SET hz", "CONFIG", "CONFIG FOO", "CONFIG HELP",
                                "CONFIG GET proto-max-bulk-len", "CONFIG GET client-query-buffer-limit",
                                "CONFIG GET client-output-buffer-limit", "CONFIG GET stream-node-max-bytes",
                                "CONFIG GET protected-mode", "CONFIG GET maxmemory-policy", "CONFIG RESETSTAT x"]),
    DiffCase("client basics", ["CLIENT SETNAME a", "CLIENT GETNAME", "CLIENT SETNAME \"\"", "CLIENT GETNAME",
                               "CLIENT SETNAME \"a b\"", "CLIENT SETNAME a b", "~CLIENT ID", "CLIENT FOO", "CLIENT",
                               "CLIENT HELP", "CLIENT REPLY foo", "CLIENT NO-EVICT on", "CLIENT NO-EVICT maybe",
                               "~CLIENT INFO", "~CLIENT LIST", "CLIENT LIST TYPE foo", "~CLIENT LIST TYPE pubsub",
                               "CLIENT LIST ID x", "CLIENT LIST FOO"]),
    // CLIENT INFO's flags and fields as redis-server reports them (varying fields masked): a
    // database, a name, MULTI (also while EXEC runs, with cmd=exec), NO-EVICT, tracking.
    DiffCase("empty key name and match-all patterns", [
        "XADD \"\" 1-1 f v", "SCAN 0 MATCH *", "SCAN 0 MATCH \"\"", "SCAN 0 MATCH **", "KEYS *", "KEYS **", "RANDOMKEY",
        "EXISTS \"\"", "TYPE \"\"", "@1 SUBSCRIBE \"\"", "PUBSUB CHANNELS *", "PUBSUB CHANNELS", "PUBSUB NUMSUB \"\"",
    ]),
    DiffCase("client info fields", [
        "%CLIENT INFO", "SELECT 3", "CLIENT SETNAME alpha", "%CLIENT INFO", "MULTI", "%CLIENT INFO", "%EXEC",
        "CLIENT NO-EVICT on", "%CLIENT INFO", "RESET", "%CLIENT INFO", "CLIENT NO-EVICT off",
        "CLIENT TRACKING on BCAST PREFIX x", "%CLIENT INFO", "CLIENT TRACKING off", "%CLIENT INFO",
    ]),
    DiffCase("client kill", ["CLIENT KILL 1.2.3.4:5", "CLIENT KILL ID 999999", "CLIENT KILL ID x",
                             "CLIENT KILL FOO bar", "CLIENT KILL TYPE foo", "CLIENT KILL TYPE master",
                             "CLIENT KILL SKIPME maybe", "CLIENT KILL ADDR 1.2.3.4:5 SKIPME yes",
                             "CLIENT KILL USER nobody", "CLIENT KILL ID"]),
    DiffCase("client reply", ["CLIENT REPLY SKIP", "PING a", "PING b", "CLIENT REPLY OFF", "PING c", "PING d",
                              "CLIENT REPLY ON", "PING e"]),
    DiffCase("client pause", ["CLIENT PAUSE x", "CLIENT PAUSE -1", "CLIENT PAUSE 10 FOO", "CLIENT PAUSE 10 WRITE extra",
                              "CLIENT PAUSE 50 WRITE", "PING", "XLEN s", "CLIENT UNPAUSE", "XADD s 1-1 a b",
                              "CLIENT PAUSE 40", "@1 PING", "CLIENT UNPAUSE"]),
    DiffCase("client unblock", ["CLIENT UNBLOCK x", "CLIENT UNBLOCK 99999", "CLIENT UNBLOCK 99999 TIMEOUT",
                                "CLIENT UNBLOCK 99999 foo", "CLIENT UNBLOCK 1 TIMEOUT x", "CLIENT UNBLOCK x foo",
                                "CLIENT UNBLOCK x TIMEOUT"]),
    DiffCase("time", ["~TIME", "TIME x"]),
    DiffCase("latency monitor, idle", ["LATENCY LATEST", "LATENCY RESET", "LATENCY RESET command fast-command",
                                       "LATENCY HISTORY command", "LATENCY FOO", "LATENCY", "LATENCY HISTORY",
                                       "CONFIG GET latency-monitor-threshold", "LATENCY DOCTOR",
                                       "LATENCY GRAPH command", "LATENCY GRAPH", "LATENCY HELP", "LATENCY DOCTOR x"]),
    // Histogram contents depend on timing: LatencyTrackingTests checks them.
    DiffCase("latency tracking", ["CONFIG RESETSTAT", "LATENCY HISTOGRAM nosuch", "^CONFIG GET latency-tracking*",
                                  "CONFIG SET latency-tracking-info-percentiles abc",
                                  "CONFIG SET latency-tracking-info-percentiles 101",
                                  "CONFIG SET latency-tracking-info-percentiles \"50.5000 99.900 1e1 0\"",
                                  "CONFIG GET latency-tracking-info-percentiles",
                                  "CONFIG SET latency-tracking-info-percentiles \"50 99 99.9\"", "CONFIG SET latency-tracking no",
                                  "CONFIG RESETSTAT", "PING", "LATENCY HISTOGRAM ping", "CONFIG SET latency-tracking yes"]),
    DiffCase("slowlog", ["SLOWLOG RESET", "SLOWLOG LEN", "SLOWLOG GET", "SLOWLOG GET x", "SLOWLOG GET -2", "SLOWLOG HELP",
                         "SLOWLOG FOO", "SLOWLOG", "SLOWLOG LEN x", "SLOWLOG GET 1 2", "slowlog get x y", "CONFIG SET slowlog-log-slower-than 0", "PING",
                         "~SLOWLOG GET 1", "CONFIG SET slowlog-log-slower-than 10000", "SLOWLOG RESET"]),
    DiffCase("info shapes", ["~INFO keyspace", "XADD s 1-1 a b", "~INFO keyspace", "INFO nosuchsection", "~INFO cluster"]),
    DiffCase("command", ["COMMAND INFO nosuchcmd", "COMMAND FOO", "COMMAND HELP", "COMMAND LIST FILTERBY FOO x",
                         "COMMAND DOCS nosuch", "COMMAND GETKEYSANDFLAGS", "COMMAND GETKEYS foo a",
                         "COMMAND GETKEYS ping", "COMMAND GETKEYS del a", "COMMAND GETKEYS del a b c",
                         "COMMAND GETKEYS rename a", "COMMAND GETKEYS xlen s", "COMMAND INFO echo nosuch",
                         "COMMAND GETKEYS rename a b", "COMMAND GETKEYS xread STREAMS a b 0 0",
                         "COMMAND GETKEYS xread COUNT 1 x y", "COMMAND GETKEYS xreadgroup GROUP g c STREAMS s >",
                         "COMMAND GETKEYS xgroup create s g $", "COMMAND INFO select xinfo|help"]),
    // MIGRATE's keys: the key specs when they find no KEYS before the last argument, else
    // Redis's own key function (which skips AUTH/AUTH2 values and refuses KEYS with a key).
    // `cmd=` is the command looked up, even when refused (NULL when none is found); once a
    // transaction is bound to fail, commands are answered QUEUED but not kept (`multi=`).
    DiffCase("client list cmd and multi fields", [
        "@1 XLEN", "%CLIENT LIST ID $ID1", "@1 NOSUCH", "%CLIENT LIST ID $ID1", "@1 XGROUP NOPE", "%CLIENT LIST ID $ID1",
        "@1 XGROUP", "%CLIENT LIST ID $ID1", "@1 MULTI", "@1 XLEN s", "%CLIENT LIST ID $ID1", "@1 XLEN",
        "@1 XLEN s", "@1 XADD s * f v", "%CLIENT LIST ID $ID1", "@1 EXEC", "@1 WATCH s", "@1 MULTI", "@1 XLEN s",
        "XADD s 1-1 f v", "@1 XLEN s", "%CLIENT LIST ID $ID1", "@1 EXEC", "%CLIENT LIST ID $ID1",
    ]),
    DiffCase("command getkeys migrate", [
        "COMMAND GETKEYS MIGRATE h 1 k 0 10 KEYS a", "COMMAND GETKEYS MIGRATE h 1 \"\" 0 10 KEYS a b",
        "COMMAND GETKEYS MIGRATE h 1 \"\" 0 10 AUTH keys KEYS a b", "COMMAND GETKEYS MIGRATE h 1 \"\" 0 10 AUTH2 keys keys KEYS c",
        "COMMAND GETKEYS MIGRATE h 1 \"\" 0 10", "COMMAND GETKEYS MIGRATE h 1 \"\" 0 10 KEYS",
        "COMMAND GETKEYS MIGRATE h 1 k 0 10 KEYS", "COMMAND GETKEYS MIGRATE keys 1 k 0 10",
        "COMMAND GETKEYS MIGRATE h 1 \"\" 0 10 COPY KEYS a", "COMMAND GETKEYS MIGRATE h 1 k 0 keys KEYS x",
        "COMMAND GETKEYSANDFLAGS MIGRATE h 1 \"\" 0 10 KEYS a",
    ]),
    // Each key's flags come from the command's key specs (COPY reads its source, overwrites its
    // destination; DEL removes; MOVE and RENAME read and write).
    // Redis 7.0's documentation, tips and key specifications for the commands Runnel has
    // (containers' subcommands come in hash order in Redis, so only leaf commands here).
    DiffCase("command docs and info", [
        "COMMAND DOCS xadd xrange xrevrange xread xreadgroup xgroup|create xgroup|setid xclaim xautoclaim xpending",
        "COMMAND DOCS xinfo|stream xinfo|groups xsetid xtrim xdel xack xlen ping echo del exists expire scan keys",
        "COMMAND DOCS rename copy select swapdb flushall subscribe publish pubsub|channels client|list config|get hello",
        "COMMAND DOCS multi exec watch info object|encoding migrate restore nosuch",
        "COMMAND INFO xadd xrange xread xreadgroup xgroup|create xclaim xautoclaim xpending xinfo|stream xsetid xtrim",
        "COMMAND INFO xdel xack del exists scan keys rename copy flushall publish config|get info migrate nosuch",
        "COMMAND GETKEYS xgroup 1 2", "COMMAND GETKEYS xgroup nosuch s g", "COMMAND GETKEYS swapdb 1 2 3",
        "COMMAND GETKEYS select", "COMMAND GETKEYS xlen a b", "COMMAND GETKEYSANDFLAGS xinfo help x",
    ]),
    // An EXEC refused before it runs (here for its arity) ends the transaction and the WATCHes.
    DiffCase("rejected exec unwatches", [
        "WATCH k", "EXEC 0", "@1 XADD k 1-1 a b", "MULTI", "PING", "EXEC", "WATCH k", "MULTI", "EXEC 1",
        "@1 XADD k 2-1 a b", "MULTI", "PING", "EXEC", "WATCH k", "DISCARD 1", "UNWATCH 1", "@1 XADD k 3-1 a b",
        "MULTI", "PING", "EXEC",
    ]),
    DiffCase("command getkeysandflags", ["COMMAND GETKEYSANDFLAGS copy a b", "COMMAND GETKEYSANDFLAGS del a b",
                                         "COMMAND GETKEYSANDFLAGS rename a b", "COMMAND GETKEYSANDFLAGS renamenx a b",
                                         "COMMAND GETKEYSANDFLAGS move a 1", "COMMAND GETKEYSANDFLAGS xadd s * f v",
                                         "COMMAND GETKEYSANDFLAGS xlen s", "COMMAND GETKEYSANDFLAGS xread STREAMS a b 0 0",
                                         "COMMAND GETKEYSANDFLAGS xreadgroup GROUP g c STREAMS s >",
                                         "COMMAND GETKEYSANDFLAGS xautoclaim s g c 0 0", "COMMAND GETKEYSANDFLAGS restore k 0 x",
                                         "COMMAND GETKEYSANDFLAGS migrate h 1 \"\" 0 1 KEYS a b", "COMMAND GETKEYSANDFLAGS expire k 1",
                                         "COMMAND GETKEYSANDFLAGS object encoding k", "COMMAND GETKEYSANDFLAGS touch a b",
                                         "COMMAND GETKEYSANDFLAGS xgroup create s g $", "COMMAND GETKEYSANDFLAGS unlink a"]),
    DiffCase("shutdown errors", ["SHUTDOWN ABORT", "SHUTDOWN FOO", "SHUTDOWN ABORT NOW", "SHUTDOWN NOSAVE SAVE",
                                 "SHUTDOWN save NOSAVE now", "SHUTDOWN ABORT ABORT", "SHUTDOWN NOW FORCE FOO", "PING"]),
    DiffCase("lastsave", ["~LASTSAVE", "LASTSAVE x"]),
    // Protocol
    DiffCase("inline commands", ["raw:PING\r\n", "raw:ECHO \"a b\"\r\n", "raw:ECHO 'it\\'s'\r\n",
                                 "raw:ECHO \"\\x41\\n\"\r\n", "raw:\r\n", "raw:PING\n", "raw:  PING   x  \r\n"]),
    DiffCase("pipelined", ["raw:PING\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\n*1\r\n$4\r\nPING\r\n"]),
    DiffCase("empty multibulk", ["raw:*0\r\n*-1\r\nPING\r\n"]),
    DiffCase("fragmented", ["raw:*2\r\n$4\r\nEC", "raw:HO\r\n$2\r\nhi\r\n"]),
    DiffCase("unbalanced quotes", ["raw:ECHO \"abc\r\n"]),
    DiffCase("quote followed by text", ["raw:ECHO \"a\"b\r\n"]),
    DiffCase("invalid multibulk length", ["raw:*x\r\n"]),
    DiffCase("huge multibulk length", ["raw:*3000000000\r\n"]),
    DiffCase("expected dollar", ["raw:*1\r\n+PING\r\n"]),
    DiffCase("invalid bulk length", ["raw:*1\r\n$-5\r\n"]),
    DiffCase("bulk over proto-max-bulk-len", ["raw:*1\r\n$536870913\r\n"]),
    DiffCase("multi-GB bulk header", ["raw:*2\r\n$4\r\nECHO\r\n$9000000000\r\n"]),
    DiffCase("leading zero bulk length", ["raw:*1\r\n$04\r\nPING\r\n"]),
    DiffCase("command before protocol error", ["raw:PING\r\n*1\r\n$x\r\n"]),
    // Redis reads a header only once its line is complete (a '\r' and one more byte, found by
    // strchr, so a NUL byte hides it); the two bytes after a count line are skipped unread.
    DiffCase("header checked once its line is in", ["raw:*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n*2\r\r\n", "raw:$4",
                                                  "raw:\r\n"]),
    DiffCase("nul byte hides a line end", ["raw:PI\\x00NG\r\n", "raw:*1\r\n$4\r\nPING\r\n"]),
    DiffCase("nul byte in a bulk header", ["raw:*1\r\n$\\x004\r\nPING\r\n"]),
    DiffCase("argument bytes that are not UTF-8 in errors", [
        "raw:*2\r\n$3\r\nx\\x94y\r\n$1\r\na\r\n", "raw:*3\r\n$8\r\nXPENDING\r\n$2\r\nk\\xc3\r\n$3\r\ng\\xc3\\xa9\r\n",
        "raw:*2\r\n$6\r\nOBJECT\r\n$4\r\n\\xf4\\x90\\x80\\x80\r\n", "raw:*3\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$2\r\n\\xc0\\x80\r\n",
    ]),
    DiffCase("unknown command name with a nul byte", ["raw:*2\r\n$6\r\nDBS\\x00IZ\r\n$3\r\na\\x00b\r\n"]),
]

/// DEBUG, both servers started with `enable-debug-command yes` (DifferentialTests.debugCommand).
let debugCases: [DiffCase] = [
    DiffCase("debug protocol", [
        "DEBUG PROTOCOL string", "DEBUG PROTOCOL integer", "DEBUG PROTOCOL double", "DEBUG PROTOCOL bignum",
        "DEBUG PROTOCOL null", "DEBUG PROTOCOL array", "DEBUG PROTOCOL set", "DEBUG PROTOCOL map", "DEBUG PROTOCOL attrib",
        "DEBUG PROTOCOL push", "DEBUG PROTOCOL verbatim", "DEBUG PROTOCOL true", "DEBUG PROTOCOL FALSE", "DEBUG PROTOCOL foo",
        "DEBUG PROTOCOL", "DEBUG PROTOCOL a b", "PING",
    ]),
    DiffCase("debug digests", [
        "DEBUG DIGEST", "DEBUG DIGEST-VALUE", "DEBUG DIGEST-VALUE nokey",
        "XADD s 1-1 a b", "XADD s 2-1 c d e f", "XADD s 3-1 a b", "XDEL s 2-1", "DEBUG DIGEST", "DEBUG DIGEST-VALUE s nokey s",
        "XGROUP CREATE s g 0", "XREADGROUP GROUP g c COUNT 1 STREAMS s >", "DEBUG DIGEST-VALUE s",
        "PEXPIRE s 100000", "DEBUG DIGEST", "DEBUG DIGEST-VALUE s", "PERSIST s", "DEBUG DIGEST",
        "SELECT 3", "XADD t 5-5 x y", "XADD \"\" 1-1 \"\" \"\"", "DEBUG DIGEST", "DEBUG DIGEST-VALUE t \"\"", "DEBUG DIGEST x",
        "SELECT 0", "XTRIM s MAXLEN 0", "DEBUG DIGEST-VALUE s", "DEL s", "DEBUG DIGEST",
    ]),
    DiffCase("debug object and encodings", [
        "DEBUG OBJECT nokey", "DEBUG OBJECT", "DEBUG OBJECT s x", "XADD s 1-1 a b", "~DEBUG OBJECT s",
        "DEBUG LISTPACK s", "DEBUG LISTPACK nokey", "DEBUG QUICKLIST s", "DEBUG QUICKLIST s 1", "DEBUG QUICKLIST nokey",
        "DEBUG QUICKLIST s 1 2", "DEBUG SDSLEN s", "DEBUG SDSLEN nokey", "DEBUG HTSTATS-KEY s", "DEBUG HTSTATS-KEY nokey",
        "DEBUG HTSTATS x", "DEBUG HTSTATS 99", "DEBUG HTSTATS -1",
    ]),
    DiffCase("debug switches and errors", [
        "DEBUG SLEEP 0", "DEBUG SLEEP 0.01", "DEBUG SLEEP x", "DEBUG SLEEP -1", "DEBUG SLEEP", "DEBUG sleep 0 0",
        "DEBUG SET-ACTIVE-EXPIRE 0", "XADD e 1-1 a b", "PEXPIRE e 20", "sleep:300", "DBSIZE", "DEBUG SET-ACTIVE-EXPIRE 1",
        "sleep:400", "DBSIZE", "DEBUG PAUSE-CRON 1", "DEBUG PAUSE-CRON 0", "DEBUG SET-SKIP-CHECKSUM-VALIDATION 0",
        "DEBUG ERROR hello", "DEBUG ERROR \"ERR multi\\r\\nline\"", "DEBUG ERROR", "DEBUG LOG hi", "DEBUG LEAK x",
        "DEBUG QUICKLIST-PACKED-THRESHOLD 100", "DEBUG QUICKLIST-PACKED-THRESHOLD 0", "DEBUG QUICKLIST-PACKED-THRESHOLD 4gb",
        "DEBUG QUICKLIST-PACKED-THRESHOLD x", "DEBUG QUICKLIST-PACKED-THRESHOLD -1", "DEBUG AOF-FLUSH-SLEEP 0",
        "DEBUG REPLICATE x y", "DEBUG DROP-CLUSTER-PACKET-FILTER 1", "DEBUG DROP-CLUSTER-PACKET-FILTER x",
        "DEBUG CLIENT-EVICTION", "DEBUG REPLYBUFFER RESIZING 0", "DEBUG REPLYBUFFER PEAK-RESET-TIME never",
        "DEBUG REPLYBUFFER PEAK-RESET-TIME reset", "DEBUG REPLYBUFFER PEAK-RESET-TIME 10", "DEBUG REPLYBUFFER PEAK-RESET-TIME x",
        "DEBUG REPLYBUFFER FOO 1", "DEBUG REPLYBUFFER RESIZING", "DEBUG CLUSTERLINK KILL to x", "DEBUG CHANGE-REPL-ID",
        "DEBUG CHANGE-REPL-ID x", "DEBUG JMAP", "DEBUG RESTART x", "DEBUG CRASH-AND-RECOVER x", "DEBUG RELOAD FOO",
        "DEBUG POPULATE x", "DEBUG POPULATE -1", "DEBUG POPULATE 0", "DEBUG POPULATE 0 p -1", "DEBUG", "PING",
    ]),
]

/// A DUMP payload of Redis before 7.0 (RDB 9, type 15, without read counters), as escapes for a
/// differential step, up to its CRC-64: made from redis-server 7.0's DUMP of a stream (1-0…6-0,
/// 3-0 deleted; groups g1 and g2; g1 read four entries; then trimmed to two) by dropping its 7.0
/// fields (first ID, max deleted ID, entries added, each group's entries-read).
let preRedis7StreamPayload =
    "\\x0f\\x01\\x10\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\xc3\\x40\\x4a\\x40\\x57" +
    "\\x16\\x57\\x00\\x00\\x00\\x23\\x00\\x02\\x01\\x04\\x01\\x01\\x01\\x84\\x64\\x61\\x74\\x61\\x05\\x00\\x01\\x03\\x01\\x00" +
    "\\x20\\x01\\x03\\x81\\x61\\x02\\x04\\x20\\x0a\\x00\\x01\\x40\\x0a\\x00\\x62\\x60\\x0a\\x00\\x02\\x40\\x0a\\x00\\x63\\x60" +
    "\\x0a\\x40\\x22\\x01\\x81\\x64\\x20\\x0a\\x40\\x39\\x20\\x0a\\x00\\x65\\x60\\x0a\\x00\\x05\\x40\\x0a\\x00\\x66\\x20\\x0a" +
    "\\x00\\xff\\x02\\x06\\x00\\x02\\x02\\x67\\x31\\x05\\x00\\x04\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x00" +
    "\\x00\\x00\\x00\\x00\\x55\\xbf\\x7b\\x2e\\xa2\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x00\\x00" +
    "\\x00\\x00\\x00\\x00\\x00\\x55\\xbf\\x7b\\x2e\\xa2\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x04\\x00\\x00" +
    "\\x00\\x00\\x00\\x00\\x00\\x00\\x55\\xbf\\x7b\\x2e\\xa2\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x05\\x00" +
    "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x55\\xbf\\x7b\\x2e\\xa2\\x01\\x00\\x00\\x01\\x01\\x03\\x63\\x31\\x31\\x55\\xbf\\x7b" +
    "\\x2e\\xa2\\x01\\x00\\x00\\x04\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00" +
    "\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x04\\x00\\x00" +
    "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x05\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x67" +
    "\\x32\\x00\\x00\\x00\\x00\\x09\\x00"
let preRedis7StreamChecksum = "\\x69\\x82\\xd7\\xaa\\x86\\xbc\\x64\\x93"
