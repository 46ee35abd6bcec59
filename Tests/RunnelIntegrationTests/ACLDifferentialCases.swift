import RunnelTestSupport

/// ACL scripts run against redis-server 7.0 and Runnel (see DiffCase for the line syntax).
/// `=` compares rule lists as word sets: redis-server prints single commands in hash order.
let aclCases: [DiffCase] = [
    // A command refused in MULTI is refused for that before the ACL is consulted (no log entry).
    // Taking channels away disconnects the user's subscribers to channels and patterns now outside the list.
    DiffCase("acl channels taken away", ["ACL SETUSER u on nopass +@all ~* &*", "@1 AUTH u x", "@1 SUBSCRIBE abc", "@2 AUTH u x",
                                         "@2 SUBSCRIBE xyz", "@3 AUTH u x", "@3 PSUBSCRIBE b*", "@4 AUTH u x", "@4 PSUBSCRIBE a*",
                                         "ACL SETUSER u resetchannels &a*", "@1 PING", "@2 PING", "@3 PING", "@4 PING"]),
    DiffCase("no_multi before acl", ["ACL SETUSER u on nopass +@all -save -shutdown", "AUTH u x", "MULTI", "SAVE", "SHUTDOWN",
                                     "SAVE x", "EXEC", "@1 ACL LOG"]),
    DiffCase("acl setuser and describe", [
        "ACL SETUSER a on >pw +@read -xrange ~inv:* &ev:*",
        "ACL SETUSER b +xadd +xlen +xrange -@write %R~x* %W~y* %RW~z",
        "ACL SETUSER c +@all -@dangerous +client|list",
        "ACL SETUSER d +select|0 \"(~a* +get)\"",
        "ACL SETUSER e +@all -@keyspace +del -xinfo +xinfo|help",
        "ACL SETUSER f (~x* +xadd (%R~y* +xrange)",
        "ACL SETUSER g (~x* +xadd) (&ch +publish)",
        "ACL SETUSER h allkeys allchannels allcommands nocommands +@pubsub -@slow",
        "ACL SETUSER i skip-sanitize-payload ~a ~b ~a %R~c %W~c resetkeys ~d &x &y &x",
        // Categories are fitted over Redis 7.0's commands only, Runnel's extra ones set after.
        "ACL SETUSER j +@write -psubscribe -@stream +config|get +xgroup|create",
        "=ACL LIST", "ACL USERS",
        "=ACL GETUSER a", "=ACL GETUSER b", "=ACL GETUSER d", "=ACL GETUSER g", "=ACL GETUSER i", "=ACL GETUSER j",
        "ACL GETUSER nobody",
    ]),
    DiffCase("acl setuser errors", [
        "ACL SETUSER u foo", "ACL SETUSER u +nocmd", "ACL SETUSER u +@nocat", "ACL SETUSER u -@nocat",
        "ACL SETUSER u #abc", "ACL SETUSER u !abc", "ACL SETUSER u <never", "ACL SETUSER u ~* ~a",
        "ACL SETUSER u &* &a", "ACL SETUSER u +xinfo|foo", "ACL SETUSER u +config|get|x", "ACL SETUSER u +select|",
        "ACL SETUSER u -select|0", "ACL SETUSER u %X~a", "ACL SETUSER u %RR~a", "ACL SETUSER u \"~a b\"",
        "ACL SETUSER \"a b\" on", "ACL SETUSER u on (~a", "ACL SETUSER u on (~a +get", "ACL SETUSER",
        "ACL SETUSER u %~a", "ACL SETUSER u %", "ACL SETUSER u (%~a)", "ACL SETUSER u %R %W~ %RW~",
        "ACL SETUSER u \"(+nocmd)\"", "ACL USERS", "ACL SETUSER u", "ACL USERS", "=ACL GETUSER u",
        "ACL SETUSER u on >p1 >p2 >p1", "=ACL GETUSER u", "ACL SETUSER u <p1", "=ACL GETUSER u",
        "ACL SETUSER u !\(String(repeating: "0", count: 64))",
        "ACL SETUSER u #\(String(repeating: "a", count: 64)) nopass", "=ACL GETUSER u",
        "ACL SETUSER u reset", "=ACL GETUSER u", "ACL DELUSER default", "ACL DELUSER nobody u u", "ACL USERS",
    ]),
    DiffCase("acl auth and whoami", [
        "ACL SETUSER alice on >pw ~orders:* +@all", "ACL SETUSER bob off >pw +@all",
        "@1 ACL WHOAMI", "@1 AUTH alice wrong", "@1 AUTH bob pw", "@1 AUTH nobody pw", "@1 AUTH alice pw",
        "@1 ACL WHOAMI", "~@1 XADD orders:1 * f v", "@1 XADD inventory:1 * f v", "@1 XLEN inventory:1",
        "@1 XLEN orders:1", "@1 AUTH a b c", "@1 AUTH pw", "@2 HELLO 2 AUTH alice wrong",
        "~@2 HELLO 2 AUTH alice pw", "@2 ACL WHOAMI", "@2 RESET", "@2 ACL WHOAMI",
    ]),
    DiffCase("acl inventory service confined to its keys and channels", [
        "ACL SETUSER inv on >p ~inventory:* &inventory:* +@all -@dangerous",
        "XADD orders 1-1 sku 7", "XADD inventory:items 1-1 sku 7",
        "@1 AUTH inv p", "@1 XRANGE inventory:items - +", "@1 XRANGE orders - +", "@1 XLEN orders",
        "@1 XREAD STREAMS orders 0", "@1 XREAD STREAMS inventory:items orders 0 0",
        "@1 XREAD STREAMS inventory:items 0", "@1 XADD orders 2-1 sku 8", "@1 DEL orders",
        "@1 RENAME inventory:items orders", "@1 XGROUP CREATE orders g 0", "@1 XGROUP CREATE inventory:items g 0",
        "@1 XREADGROUP GROUP g c STREAMS inventory:items >", "@1 PUBLISH orders:new x",
        "@1 PUBLISH inventory:low x", "@1 SPUBLISH orders:new x", "@1 CONFIG GET port", "@1 FLUSHALL",
        "@1 KEYS *", "@1 SUBSCRIBE orders:new", "@1 PSUBSCRIBE inv*", "@1 PSUBSCRIBE inventory:*",
        "@1 SUBSCRIBE inventory:low inventory:high",
    ]),
    DiffCase("acl read and write key patterns", [
        "ACL SETUSER rw on nopass %R~r:* %W~w:* +@all",
        "@1 AUTH rw any", "@1 XADD w:1 1-1 f v", "@1 XADD r:1 1-1 f v", "XADD r:1 1-1 f v", "@1 XRANGE r:1 - +",
        "@1 XRANGE w:1 - +", "@1 XLEN w:1", "@1 EXISTS w:1 r:1", "@1 TYPE r:1", "@1 DEL r:1",
        "@1 RENAME w:1 w:2", "@1 XTRIM w:1 MAXLEN 0", "@1 EXPIRE w:1 100", "@1 TTL w:1",
        "@1 XGROUP CREATE w:1 g 0", "@1 XGROUP CREATE r:1 g 0", "XGROUP CREATE r:1 g 0",
        "@1 XREADGROUP GROUP g c STREAMS r:1 >", "@1 XACK r:1 g 1-1", "@1 XINFO STREAM w:1",
    ]),
    DiffCase("acl commands, categories and first args", [
        "ACL SETUSER u on nopass ~* &* -@all +@stream -xadd +ping +select|0 +xinfo|help -xinfo|stream",
        "@1 AUTH u x", "@1 XLEN s", "@1 XADD s * f v", "@1 CONFIG GET port", "@1 PING", "@1 SELECT 0",
        "@1 SELECT 1", "@1 XINFO HELP", "@1 XINFO STREAM s", "@1 XINFO GROUPS s", "@1 SUBSCRIBE c",
        "@1 ACL WHOAMI", "@1 QUIT",
    ]),
    DiffCase("acl selectors", [
        "ACL SETUSER u on nopass ~a* +@all (%R~b* +xrange) (~c* &chan +xadd +publish)",
        "XADD b1 1-1 f v", "@1 AUTH u p", "@1 XRANGE b1 - +", "@1 XADD b1 2-1 f v", "@1 XLEN b1",
        "~@1 XADD c1 * f v", "@1 XRANGE c1 - +", "@1 PUBLISH chan x", "@1 PUBLISH other x",
        "=ACL GETUSER u", "=ACL LIST", "ACL SETUSER u clearselectors", "=ACL GETUSER u", "@1 XRANGE b1 - +",
    ]),
    DiffCase("acl transactions", [
        "ACL SETUSER u on nopass ~s* +@all -xdel", "@1 AUTH u p", "@1 MULTI", "@1 XADD s 1-1 f v",
        "@1 XDEL s 1-1", "@1 XADD t 1-1 f v", "@1 EXEC", "@1 MULTI", "@1 XADD s 2-1 f v", "@1 XLEN s",
        "ACL SETUSER u -xadd", "@1 EXEC", "@1 MULTI", "@1 XLEN s", "ACL SETUSER u resetkeys", "@1 EXEC",
    ]),
    DiffCase("acl deluser disconnects its clients", [
        "ACL SETUSER u on nopass +@all ~*", "@1 AUTH u p", "@1 PING", "ACL DELUSER u", "@1 PING",
    ]),
    DiffCase("acl deluser of the current user", [
        "ACL SETUSER u on nopass +@all ~*", "@1 AUTH u p", "@1 ACL DELUSER u", "@1 PING",
        // Inside EXEC the deleting command's reply still goes out; what follows it does not.
        "ACL SETUSER v on nopass +@all ~*", "@2 AUTH v p", "@2 raw:MULTI\r\nACL DELUSER v\r\nPING\r\nEXEC\r\n",
    ]),
    DiffCase("acl channel revocation disconnects subscribers", [
        "ACL SETUSER u on nopass +@all ~* &news*", "@1 AUTH u p", "@1 SUBSCRIBE news1", "@2 AUTH u p",
        "@2 PING", "ACL SETUSER u &more", "PUBLISH news1 hello", "@1 ?", "@2 PING",
        "ACL SETUSER u resetchannels &other", "PUBLISH news1 hello", "@1 ?", "@2 PING",
    ]),
    DiffCase("acl client kill user", [
        "ACL SETUSER u on nopass +@all ~*", "@1 AUTH u p", "@2 AUTH u p", "CLIENT KILL USER nobody",
        "CLIENT KILL USER u", "@1 PING", "CLIENT KILL USER u",
    ]),
    DiffCase("acl requirepass and the default user", [
        "CONFIG SET requirepass s3cret", "@1 PING", "@1 AUTH wrong", "@1 AUTH default wrong", "@1 AUTH s3cret",
        "@1 ACL WHOAMI", "@2 HELLO 2", "~@2 HELLO 2 AUTH default s3cret", "=ACL LIST", "CONFIG GET requirepass",
        "ACL SETUSER default >another", "@3 AUTH another", "@4 AUTH s3cret", "CONFIG SET requirepass \"\"",
        "=ACL LIST", "@5 PING", "@5 AUTH x",
    ]),
    DiffCase("acl dryrun", [
        "ACL SETUSER dd on nopass ~a* +xadd &ch +publish", "ACL DRYRUN nouser get a", "ACL DRYRUN default nocmd",
        "ACL DRYRUN dd xadd b * f v", "ACL DRYRUN dd xlen a", "ACL DRYRUN dd xadd a", "ACL DRYRUN dd xadd a 1 f v",
        "ACL DRYRUN dd config get x", "ACL DRYRUN dd publish x y", "ACL DRYRUN dd publish ch y",
        "ACL DRYRUN dd xinfo nosuch", "ACL DRYRUN default xadd a * f v",
    ]),
    DiffCase("acl misc subcommands", [
        "ACL CAT", "ACL CAT foo", "ACL CAT a b", "~ACL GENPASS", "~ACL GENPASS 5", "ACL GENPASS 0",
        "ACL GENPASS 4097", "ACL GENPASS x", "ACL LOG x", "ACL LOG -1", "ACL LOG RESET", "ACL LOG", "ACL LOAD",
        "ACL SAVE", "ACL FOO", "ACL HELP", "ACL", "ACL WHOAMI x", "ACL USERS x", "ACL LIST x",
    ]),
    DiffCase("acl log", [
        "ACL SETUSER u on >pw ~a* -@all +xadd", "@1 AUTH u bad", "@1 AUTH u pw", "@1 XLEN a", "@1 XLEN a",
        "@1 XADD b * f v", "~ACL LOG", "~ACL LOG 1", "ACL LOG RESET", "ACL LOG",
    ]),
]
