import RunnelRESP
import NIOCore

/// Server configuration: redis.conf directives by their Redis names, with redis-server 7.0's
/// parsing rules and CONFIG SET error texts.
public struct ServerConfig: Sendable {
    /// How a directive's text is parsed and validated.
    enum Kind: Sendable {
        case integer(min: Int, max: Int)
        case memory(min: Int, max: Int)
        /// A memory value kept as an `unsigned long long` (`maxmemory`): 0 … 2^64−1, digits
        /// past that saturate (strtoull) and unit products wrap, as in Redis.
        case unsignedMemory
        case bool
        case choice([String])
        case string
        case special
        /// A memory value, or a percentage stored as its negation (`maxmemory-clients`).
        case memoryOrPercent(minPercent: Int, max: Int)
        /// An integer of an immutable directive Runnel keeps but does not act on.
        case number
    }

    struct Directive: Sendable {
        let name: String
        let kind: Kind
        let mutable: Bool
        let defaultValue: String
        var aliases: [String] = []
    }

    static let directives: [Directive] = [
        Directive(name: "bind", kind: .string, mutable: true, defaultValue: "127.0.0.1 -::1"),
        Directive(name: "port", kind: .integer(min: 0, max: 65535), mutable: true, defaultValue: "6379"),
        Directive(name: "metrics-port", kind: .integer(min: 0, max: 65535), mutable: false, defaultValue: "0"),
        Directive(name: "tls-port", kind: .integer(min: 0, max: 65535), mutable: true, defaultValue: "0"),
        Directive(name: "tls-cert-file", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "tls-key-file", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "tls-ca-cert-file", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "tls-auth-clients", kind: .choice(["no", "yes", "optional"]), mutable: true, defaultValue: "yes"),
        Directive(name: "dir", kind: .string, mutable: false, defaultValue: "./runnel-data"),
        Directive(name: "databases", kind: .integer(min: 1, max: Int(Int32.max)), mutable: false, defaultValue: "16"),
        Directive(name: "maxclients", kind: .integer(min: 1, max: Int(UInt32.max)), mutable: true, defaultValue: "10000"),
        Directive(name: "timeout", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "0"),
        Directive(name: "tcp-keepalive", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "300"),
        Directive(name: "tcp-backlog", kind: .integer(min: 0, max: Int(Int32.max)), mutable: false, defaultValue: "511"),
        Directive(name: "proto-max-bulk-len", kind: .memory(min: 1024 * 1024, max: Int.max), mutable: true, defaultValue: "536870912"),
        Directive(name: "client-query-buffer-limit", kind: .memory(min: 1024 * 1024, max: Int.max), mutable: true, defaultValue: "1073741824"),
        Directive(name: "client-output-buffer-limit", kind: .special, mutable: true,
                  defaultValue: "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
        Directive(name: "notify-keyspace-events", kind: .special, mutable: true, defaultValue: ""),
        Directive(name: "slowlog-log-slower-than", kind: .integer(min: -1, max: Int.max), mutable: true, defaultValue: "10000"),
        Directive(name: "slowlog-max-len", kind: .integer(min: 0, max: Int.max), mutable: true, defaultValue: "128"),
        Directive(name: "latency-monitor-threshold", kind: .integer(min: 0, max: Int.max), mutable: true, defaultValue: "0"),
        Directive(name: "latency-tracking", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "latency-tracking-info-percentiles", kind: .special, mutable: true, defaultValue: "50 99 99.9"),
        Directive(name: "hz", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "10"),
        Directive(name: "loglevel", kind: .choice(["debug", "verbose", "notice", "warning"]), mutable: true, defaultValue: "notice"),
        Directive(name: "logfile", kind: .string, mutable: false, defaultValue: ""),
        Directive(name: "pidfile", kind: .string, mutable: false, defaultValue: ""),
        Directive(name: "daemonize", kind: .bool, mutable: false, defaultValue: "no"),
        Directive(name: "save", kind: .special, mutable: true, defaultValue: ""),
        Directive(name: "dbfilename", kind: .string, mutable: false, defaultValue: "dump.rdb"),
        Directive(name: "appendonly", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "appendfsync", kind: .choice(["everysec", "always", "no"]), mutable: true, defaultValue: "everysec"),
        Directive(name: "appendfilename", kind: .string, mutable: false, defaultValue: "appendonly.aof"),
        Directive(name: "appenddirname", kind: .string, mutable: false, defaultValue: "appendonlydir"),
        Directive(name: "aof-load-truncated", kind: .bool, mutable: true, defaultValue: "yes"),
        // Runnel's storage engine (docs/DESIGN.md, "Storage").
        Directive(name: "segment-max-bytes", kind: .memory(min: 64 * 1024, max: 1 << 40), mutable: false, defaultValue: "67108864"),
        Directive(name: "checkpoint-min-bytes", kind: .memory(min: 64 * 1024, max: 1 << 40), mutable: true, defaultValue: "33554432"),
        Directive(name: "checkpoint-compression-level", kind: .integer(min: 0, max: 9), mutable: true, defaultValue: "1"),
        Directive(name: "checkpoint-interval", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "300"),
        Directive(name: "log-compression-level", kind: .integer(min: 1, max: 9), mutable: false, defaultValue: "1"),
        Directive(name: "log-commit-spin-us", kind: .integer(min: 0, max: 100_000), mutable: true, defaultValue: "100"),
        Directive(name: "log-commit-delay-us", kind: .integer(min: 0, max: 100_000), mutable: true, defaultValue: "50"),
        Directive(name: "repair", kind: .bool, mutable: false, defaultValue: "no"),
        Directive(name: "snapshot-retain", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "5"),
        Directive(name: "stream-node-max-entries", kind: .integer(min: 0, max: Int.max), mutable: true, defaultValue: "100"),
        Directive(name: "stream-node-max-bytes", kind: .memory(min: 0, max: Int.max), mutable: true, defaultValue: "4096"),
        Directive(name: "requirepass", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "protected-mode", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "aclfile", kind: .string, mutable: false, defaultValue: ""),
        Directive(name: "acllog-max-len", kind: .integer(min: 0, max: Int.max), mutable: true, defaultValue: "128"),
        Directive(name: "acl-pubsub-default", kind: .choice(["allchannels", "resetchannels"]), mutable: true,
                  defaultValue: "resetchannels"),
        Directive(name: "maxmemory", kind: .unsignedMemory, mutable: true, defaultValue: "0"),
        Directive(name: "maxmemory-policy",
                  kind: .choice(["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
                                 "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"]),
                  mutable: true, defaultValue: "noeviction"),
        Directive(name: "lfu-log-factor", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "10"),
        Directive(name: "lfu-decay-time", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "1"),
        Directive(name: "io-threads", kind: .integer(min: 1, max: 128), mutable: false, defaultValue: "1"),
        Directive(name: "lazyfree-lazy-user-del", kind: .bool, mutable: true, defaultValue: "no"),
        Directive(name: "lazyfree-lazy-user-flush", kind: .bool, mutable: true, defaultValue: "no"),
        Directive(name: "busy-reply-threshold", kind: .integer(min: 0, max: Int.max), mutable: true, defaultValue: "5000",
                  aliases: ["lua-time-limit"]),
        // The rest of redis-server 7.0's directives, with its defaults, so that a redis.conf
        // written for Redis loads unchanged and CONFIG GET/SET answer for them. They tune
        // what Runnel does not have (other data types, RDB, replication, cluster,
        // defragmentation, process management) and change nothing, except that Runnel refuses
        // to start as a replica or a cluster node.
        Directive(name: "active-defrag-cycle-max", kind: .integer(min: 1, max: 99), mutable: true, defaultValue: "25"),
        Directive(name: "active-defrag-cycle-min", kind: .integer(min: 1, max: 99), mutable: true, defaultValue: "1"),
        Directive(name: "active-defrag-ignore-bytes", kind: .memory(min: 1, max: Int.max), mutable: true, defaultValue: "104857600"),
        Directive(name: "active-defrag-max-scan-fields", kind: .integer(min: 1, max: Int.max), mutable: true, defaultValue: "1000"),
        Directive(name: "active-defrag-threshold-lower", kind: .integer(min: 0, max: 1000), mutable: true, defaultValue: "10"),
        Directive(name: "active-defrag-threshold-upper", kind: .integer(min: 0, max: 1000), mutable: true, defaultValue: "100"),
        Directive(name: "active-expire-effort", kind: .integer(min: 1, max: 10), mutable: true, defaultValue: "1"),
        Directive(name: "activedefrag", kind: .bool, mutable: true, defaultValue: "no"),
        Directive(name: "activerehashing", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "always-show-logo", kind: .bool, mutable: false, defaultValue: "no"),
        Directive(name: "aof-disable-auto-gc", kind: .bool, mutable: true, defaultValue: "no"),
        Directive(name: "aof-rewrite-incremental-fsync", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "aof-timestamp-enabled", kind: .bool, mutable: true, defaultValue: "no"),
        Directive(name: "aof-use-rdb-preamble", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "aof_rewrite_cpulist", kind: .string, mutable: false, defaultValue: ""),
        Directive(name: "auto-aof-rewrite-min-size", kind: .memory(min: 0, max: Int.max), mutable: true, defaultValue: "67108864"),
        Directive(name: "auto-aof-rewrite-percentage", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "100"),
        Directive(name: "bgsave_cpulist", kind: .string, mutable: false, defaultValue: ""),
        Directive(name: "bind-source-addr", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "bio_cpulist", kind: .string, mutable: false, defaultValue: ""),
        Directive(name: "cluster-allow-pubsubshard-when-down", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "cluster-allow-reads-when-down", kind: .bool, mutable: true, defaultValue: "no"),
        Directive(name: "cluster-allow-replica-migration", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "cluster-announce-bus-port", kind: .integer(min: 0, max: 65535), mutable: true, defaultValue: "0"),
        Directive(name: "cluster-announce-hostname", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "cluster-announce-ip", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "cluster-announce-port", kind: .integer(min: 0, max: 65535), mutable: true, defaultValue: "0"),
        Directive(name: "cluster-announce-tls-port", kind: .integer(min: 0, max: 65535), mutable: true, defaultValue: "0"),
        Directive(name: "cluster-config-file", kind: .string, mutable: false, defaultValue: "nodes.conf"),
        Directive(name: "cluster-enabled", kind: .bool, mutable: false, defaultValue: "no"),
        Directive(name: "cluster-link-sendbuf-limit", kind: .memory(min: 0, max: Int.max), mutable: true, defaultValue: "0"),
        Directive(name: "cluster-migration-barrier", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "1"),
        Directive(name: "cluster-node-timeout", kind: .integer(min: 0, max: Int.max), mutable: true, defaultValue: "15000"),
        Directive(name: "cluster-port", kind: .integer(min: 0, max: 65535), mutable: false, defaultValue: "0"),
        Directive(name: "cluster-preferred-endpoint-type", kind: .choice(["ip", "hostname", "unknown-endpoint"]), mutable: true, defaultValue: "ip"),
        Directive(name: "cluster-replica-no-failover", kind: .bool, mutable: true, defaultValue: "no", aliases: ["cluster-slave-no-failover"]),
        Directive(name: "cluster-replica-validity-factor", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "10", aliases: ["cluster-slave-validity-factor"]),
        Directive(name: "cluster-require-full-coverage", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "crash-log-enabled", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "crash-memcheck-enabled", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "disable-thp", kind: .bool, mutable: false, defaultValue: "yes"),
        Directive(name: "dynamic-hz", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "enable-debug-command", kind: .choice(["no", "yes", "local"]), mutable: false, defaultValue: "no"),
        Directive(name: "enable-module-command", kind: .choice(["no", "yes", "local"]), mutable: false, defaultValue: "no"),
        Directive(name: "enable-protected-configs", kind: .choice(["no", "yes", "local"]), mutable: false, defaultValue: "no"),
        Directive(name: "hash-max-listpack-entries", kind: .integer(min: 0, max: Int.max), mutable: true, defaultValue: "512", aliases: ["hash-max-ziplist-entries"]),
        Directive(name: "hash-max-listpack-value", kind: .memory(min: 0, max: Int.max), mutable: true, defaultValue: "64", aliases: ["hash-max-ziplist-value"]),
        Directive(name: "hll-sparse-max-bytes", kind: .memory(min: 0, max: Int.max), mutable: true, defaultValue: "3000"),
        Directive(name: "ignore-warnings", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "io-threads-do-reads", kind: .bool, mutable: false, defaultValue: "no"),
        Directive(name: "jemalloc-bg-thread", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "lazyfree-lazy-eviction", kind: .bool, mutable: true, defaultValue: "no"),
        Directive(name: "lazyfree-lazy-expire", kind: .bool, mutable: true, defaultValue: "no"),
        Directive(name: "lazyfree-lazy-server-del", kind: .bool, mutable: true, defaultValue: "no"),
        Directive(name: "list-compress-depth", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "0"),
        Directive(name: "list-max-listpack-size", kind: .integer(min: Int(Int32.min), max: Int(Int32.max)), mutable: true, defaultValue: "-2", aliases: ["list-max-ziplist-size"]),
        Directive(name: "masterauth", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "masteruser", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "maxmemory-clients", kind: .memoryOrPercent(minPercent: 100, max: Int.max), mutable: true, defaultValue: "0"),
        Directive(name: "maxmemory-eviction-tenacity", kind: .integer(min: 0, max: 100), mutable: true, defaultValue: "10"),
        Directive(name: "maxmemory-samples", kind: .integer(min: 1, max: Int(Int32.max)), mutable: true, defaultValue: "5"),
        Directive(name: "min-replicas-max-lag", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "10", aliases: ["min-slaves-max-lag"]),
        Directive(name: "min-replicas-to-write", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "0", aliases: ["min-slaves-to-write"]),
        Directive(name: "no-appendfsync-on-rewrite", kind: .bool, mutable: true, defaultValue: "no"),
        Directive(name: "oom-score-adj", kind: .choice(["no", "yes", "relative", "absolute"]), mutable: true, defaultValue: "no"),
        Directive(name: "oom-score-adj-values", kind: .special, mutable: true, defaultValue: "0 200 800"),
        Directive(name: "proc-title-template", kind: .string, mutable: true, defaultValue: "{title} {listen-addr} {server-mode}"),
        Directive(name: "propagation-error-behavior", kind: .choice(["ignore", "panic", "panic-on-replicas"]), mutable: true, defaultValue: "ignore"),
        Directive(name: "rdb-del-sync-files", kind: .bool, mutable: true, defaultValue: "no"),
        Directive(name: "rdb-save-incremental-fsync", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "rdbchecksum", kind: .bool, mutable: false, defaultValue: "yes"),
        Directive(name: "rdbcompression", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "repl-backlog-size", kind: .memory(min: 1, max: Int.max), mutable: true, defaultValue: "1048576"),
        Directive(name: "repl-backlog-ttl", kind: .integer(min: 0, max: Int.max), mutable: true, defaultValue: "3600"),
        Directive(name: "repl-disable-tcp-nodelay", kind: .bool, mutable: true, defaultValue: "no"),
        Directive(name: "repl-diskless-load", kind: .choice(["disabled", "on-empty-db", "swapdb"]), mutable: true, defaultValue: "disabled"),
        Directive(name: "repl-diskless-sync", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "repl-diskless-sync-delay", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "5"),
        Directive(name: "repl-diskless-sync-max-replicas", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "0"),
        Directive(name: "repl-ping-replica-period", kind: .integer(min: 1, max: Int(Int32.max)), mutable: true, defaultValue: "10", aliases: ["repl-ping-slave-period"]),
        Directive(name: "repl-timeout", kind: .integer(min: 1, max: Int(Int32.max)), mutable: true, defaultValue: "60"),
        Directive(name: "replica-announce-ip", kind: .string, mutable: true, defaultValue: "", aliases: ["slave-announce-ip"]),
        Directive(name: "replica-announce-port", kind: .integer(min: 0, max: 65535), mutable: true, defaultValue: "0", aliases: ["slave-announce-port"]),
        Directive(name: "replica-announced", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "replica-ignore-disk-write-errors", kind: .bool, mutable: true, defaultValue: "no"),
        Directive(name: "replica-ignore-maxmemory", kind: .bool, mutable: true, defaultValue: "yes", aliases: ["slave-ignore-maxmemory"]),
        Directive(name: "replica-lazy-flush", kind: .bool, mutable: true, defaultValue: "no", aliases: ["slave-lazy-flush"]),
        Directive(name: "replica-priority", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "100", aliases: ["slave-priority"]),
        Directive(name: "replica-read-only", kind: .bool, mutable: true, defaultValue: "yes", aliases: ["slave-read-only"]),
        Directive(name: "replica-serve-stale-data", kind: .bool, mutable: true, defaultValue: "yes", aliases: ["slave-serve-stale-data"]),
        Directive(name: "replicaof", kind: .string, mutable: false, defaultValue: "", aliases: ["slaveof"]),
        Directive(name: "sanitize-dump-payload", kind: .choice(["no", "yes", "clients"]), mutable: true, defaultValue: "no"),
        Directive(name: "server_cpulist", kind: .string, mutable: false, defaultValue: ""),
        Directive(name: "set-max-intset-entries", kind: .integer(min: 0, max: Int.max), mutable: true, defaultValue: "512"),
        Directive(name: "set-proc-title", kind: .bool, mutable: false, defaultValue: "yes"),
        Directive(name: "shutdown-on-sigint", kind: .special, mutable: true, defaultValue: "default"),
        Directive(name: "shutdown-on-sigterm", kind: .special, mutable: true, defaultValue: "default"),
        Directive(name: "shutdown-timeout", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "10"),
        Directive(name: "socket-mark-id", kind: .number, mutable: false, defaultValue: "0"),
        Directive(name: "stop-writes-on-bgsave-error", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "supervised", kind: .choice(["upstart", "systemd", "auto", "no"]), mutable: false, defaultValue: "no"),
        Directive(name: "syslog-enabled", kind: .bool, mutable: false, defaultValue: "no"),
        Directive(name: "syslog-facility", kind: .choice(["user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"]), mutable: false, defaultValue: "local0"),
        Directive(name: "syslog-ident", kind: .string, mutable: false, defaultValue: "redis"),
        Directive(name: "tls-ca-cert-dir", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "tls-ciphers", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "tls-ciphersuites", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "tls-client-cert-file", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "tls-client-key-file", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "tls-client-key-file-pass", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "tls-cluster", kind: .bool, mutable: true, defaultValue: "no"),
        Directive(name: "tls-dh-params-file", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "tls-key-file-pass", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "tls-prefer-server-ciphers", kind: .bool, mutable: true, defaultValue: "no"),
        Directive(name: "tls-protocols", kind: .string, mutable: true, defaultValue: ""),
        Directive(name: "tls-replication", kind: .bool, mutable: true, defaultValue: "no"),
        Directive(name: "tls-session-cache-size", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "20480"),
        Directive(name: "tls-session-cache-timeout", kind: .integer(min: 0, max: Int(Int32.max)), mutable: true, defaultValue: "300"),
        Directive(name: "tls-session-caching", kind: .bool, mutable: true, defaultValue: "yes"),
        Directive(name: "tracking-table-max-keys", kind: .integer(min: 0, max: Int.max), mutable: true, defaultValue: "1000000"),
        Directive(name: "unixsocket", kind: .string, mutable: false, defaultValue: ""),
        Directive(name: "unixsocketperm", kind: .number, mutable: false, defaultValue: "0"),
        Directive(name: "zset-max-listpack-entries", kind: .integer(min: 0, max: Int.max), mutable: true, defaultValue: "128", aliases: ["zset-max-ziplist-entries"]),
        Directive(name: "zset-max-listpack-value", kind: .memory(min: 0, max: Int.max), mutable: true, defaultValue: "64", aliases: ["zset-max-ziplist-value"]),
    ]

    static let directiveIndex: [String: Int] = {
        var index: [String: Int] = [:]
        for (i, d) in directives.enumerated() {
            index[d.name] = i
            for a in d.aliases { index[a] = i }
        }
        return index
    }()

    /// Canonical text of every directive, by index in `directives`.
    private(set) var values: [String]

    // Typed copies of the values the server reads on hot paths.
    public private(set) var port = 6379
    /// Port of the Prometheus metrics endpoint (HTTP `GET /metrics`); 0 = off.
    public private(set) var metricsPort = 0
    /// TLS listener (redis.conf's names): port (0 = off), PEM files, client certificates
    /// required (`yes`), checked when presented (`optional`) or not asked for (`no`).
    public private(set) var tlsPort = 0
    public private(set) var tlsCertFile = ""
    public private(set) var tlsKeyFile = ""
    public private(set) var tlsCACertFile = ""
    public private(set) var tlsAuthClients = "yes"
    public private(set) var bindAddresses: [String] = ["127.0.0.1", "-::1"]
    public private(set) var dir = "./runnel-data"
    public private(set) var databases = 16
    public private(set) var maxclients = 10000
    public private(set) var timeoutSeconds = 0
    public private(set) var protoMaxBulkLen = 536_870_912
    public private(set) var clientQueryBufferLimit = 1_073_741_824
    public private(set) var outputLimits = OutputBufferLimits.defaults
    public private(set) var keyspaceEvents = KeyspaceEventFlags()
    public private(set) var slowlogSlowerThan = 10000
    public private(set) var slowlogMaxLen = 128
    public private(set) var hz = 10
    public private(set) var loglevel = "notice"
    public private(set) var requirepass = ""
    /// ACL file (`ACL SAVE`/`ACL LOAD`; loaded at startup); empty = users live in the config file.
    public private(set) var aclfile = ""
    public private(set) var acllogMaxLen = 128
    /// Channels of new users: `resetchannels` (none, Redis 7.0's default) or `allchannels`.
    public private(set) var aclPubsubDefault = "resetchannels"
    /// `user <name> <rules…>` lines of the config file (or `--user` options), in order.
    public private(set) var userLines: [[String]] = []
    /// With no password, refuse clients that do not connect over loopback (Redis's protected mode).
    public private(set) var protectedMode = true
    /// Limit on stream data (entries and group state) in bytes; 0 = none. Past it, commands that
    /// can add data get Redis's OOM error; reads, acks and deletes go on.
    public private(set) var maxmemory = 0
    /// `maxmemory-policy` is one of the LFU policies: keys keep Redis's logarithmic access
    /// counter (OBJECT FREQ) instead of an access time (OBJECT IDLETIME). Runnel never evicts.
    public private(set) var lfuPolicy = false
    public private(set) var lfuLogFactor = 10
    public private(set) var lfuDecayTime = 1
    /// LATENCY records commands at least this many milliseconds long; 0 = off.
    public private(set) var latencyMonitorThreshold = 0
    /// Per-command latency histograms (LATENCY HISTOGRAM, INFO latencystats).
    public private(set) var latencyTracking = true
    public private(set) var latencyTrackingPercentiles: [Double] = [50, 99, 99.9]
    public private(set) var appendfsync = "everysec"
    public private(set) var appendonly = true
    public private(set) var segmentMaxBytes = 64 << 20
    public private(set) var checkpointMinBytes = 32 << 20
    public private(set) var checkpointCompressionLevel = 1
    public private(set) var checkpointIntervalSeconds = 300
    public private(set) var logCompressionLevel = 1
    public private(set) var logCommitSpinUs = 100
    public private(set) var logCommitDelayUs = 50
    public private(set) var repair = false
    public private(set) var snapshotRetain = 5
    public private(set) var streamNodeMaxEntries = 100
    public private(set) var streamNodeMaxBytes = 4096

    public init() {
        values = Self.directives.map(\.defaultValue)
        for (i, d) in Self.directives.enumerated() {
            _ = try? apply(index: i, text: d.defaultValue)
        }
    }

    /// Canonical name of a directive (resolving aliases), or nil when unknown.
    public static func canonicalName(_ name: String) -> String? {
        directiveIndex[name.lowercased()].map { directives[$0].name }
    }

    /// Whether CONFIG SET may change the directive (by its canonical name).
    static func isMutable(_ canonical: String) -> Bool {
        directiveIndex[canonical].map { directives[$0].mutable } ?? false
    }

    public func value(of name: String) -> String? {
        Self.directiveIndex[name.lowercased()].map { values[$0] }
    }

    /// (name, value) pairs whose name matches the glob `pattern`, in table order.
    public func matching(_ pattern: String) -> [(String, String)] {
        var out: [(String, String)] = []
        let p = Array(pattern.lowercased().utf8)
        // An exact name (or alias) is returned under the name asked for, as Redis does.
        if !pattern.contains(where: { "*?[\\".contains($0) }), let i = Self.directiveIndex[pattern.lowercased()] {
            return [(pattern.lowercased(), values[i])]
        }
        for (i, d) in Self.directives.enumerated() {
            // Aliases are names of their own to a pattern, as in Redis (`slave-*`, `*ziplist*`).
            for name in [d.name] + d.aliases where Glob.matches(pattern: p, name.utf8, caseInsensitive: true) {
                out.append((name, values[i]))
            }
        }
        return out
    }

    /// Error from a CONFIG SET or config-file line.
    public struct SetError: Error, Sendable {
        public let directive: String
        public let reason: String
    }

    /// Validates and stores one directive. `fromFile` allows immutable directives.
    public mutating func set(_ name: String, _ text: String, startup: Bool = false) throws(SetError) {
        guard let index = Self.directiveIndex[name.lowercased()] else {
            throw SetError(directive: name, reason: "unknown")
        }
        let d = Self.directives[index]
        if !d.mutable && !startup {
            throw SetError(directive: name, reason: "can't set immutable config")
        }
        do {
            try apply(index: index, text: text)
            // CONFIG SET resizes the replication backlog, which Redis keeps at 16 KiB or more
            // (a config file's smaller value stays as given until then).
            if !startup && d.name == "repl-backlog-size", let v = Int(values[index]), v < 16384 {
                try apply(index: index, text: "16384")
            }
        } catch {
            throw SetError(directive: name, reason: error.reason)
        }
    }

    /// Checks that `text` would be accepted for `name`, without storing it.
    public func validate(_ name: String, _ text: String) throws(SetError) {
        var copy = self
        try copy.set(name, text)
    }

    private struct Invalid: Error { let reason: String }

    private mutating func apply(index: Int, text: String) throws(Invalid) {
        let d = Self.directives[index]
        var canonical = text
        switch d.kind {
        case .integer(let min, let max):
            // Redis's string2ll: no sign but '-', no leading zeros, no spaces.
            guard let v = RESPInteger.parse(ByteBuffer(string: text)) else {
                throw Invalid(reason: "argument couldn't be parsed into an integer")
            }
            guard v >= min && v <= max else { throw Invalid(reason: "argument must be between \(min) and \(max) inclusive") }
            // Redis takes any hz but keeps (and reports) it within 1…500.
            canonical = String(d.name == "hz" ? Swift.max(1, Swift.min(500, v)) : v)
        case .memory(let min, let max):
            guard let v = Self.parseMemory(text) else { throw Invalid(reason: "argument must be a memory value") }
            guard v >= min && v <= max else { throw Invalid(reason: "argument must be between \(min) and \(max) inclusive") }
            canonical = String(v)
        case .unsignedMemory:
            guard let v = Self.memtoull(text) else { throw Invalid(reason: "argument must be a memory value") }
            canonical = String(v)
        case .memoryOrPercent(let minPercent, let max):
            if let v = Self.parseMemory(text) {
                guard v <= max else { throw Invalid(reason: "argument must be between \(-minPercent) and \(max) inclusive") }
                // A memory value past 2^63 wraps negative and then reads as a percentage, as in Redis.
                guard v >= -minPercent else { throw Invalid(reason: "percentage argument must be less or equal to \(minPercent)") }
                canonical = v < 0 ? "\(-v)%" : String(v)
            } else if text.count > 1, text.hasSuffix("%"), let p = RESPInteger.parse(ByteBuffer(string: String(text.dropLast()))), p >= 0 {
                guard p <= minPercent else { throw Invalid(reason: "percentage argument must be less or equal to \(minPercent)") }
                canonical = "\(p)%"
            } else {
                throw Invalid(reason: "argument must be a memory or percent value")
            }
        case .bool:
            switch text.lowercased() {
            case "yes": canonical = "yes"
            case "no": canonical = "no"
            default: throw Invalid(reason: "argument must be 'yes' or 'no'")
            }
            if d.name == "activedefrag" && canonical == "yes" {
                // Redis built without its own jemalloc (Debian's) refuses the same way.
                throw Invalid(reason: "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution")
            }
            if d.name == "cluster-enabled" && canonical == "yes" {
                throw Invalid(reason: "Runnel does not support cluster mode")
            }
        case .choice(let options):
            guard options.contains(text.lowercased()) else {
                throw Invalid(reason: "argument(s) must be one of the following: " + options.joined(separator: ", "))
            }
            canonical = text.lowercased()
        case .string:
            canonical = text
            if (d.name == "replicaof") && !text.isEmpty {
                throw Invalid(reason: "Runnel does not support replication")
            }
        case .number:
            guard let v = Int(text) ?? Self.parseMemory(text) else {
                throw Invalid(reason: "argument couldn't be parsed into an integer")
            }
            canonical = String(v)
        case .special:
            switch d.name {
            case "client-output-buffer-limit":
                var limits = outputLimits
                if let reason = limits.apply(text) { throw Invalid(reason: reason) }
                canonical = limits.description
            case "latency-tracking-info-percentiles":
                var values: [Double] = []
                // Words at single spaces (an empty word is invalid); strtod-style numbers where
                // an infinity is a number (then out of range) and NaN is not.
                for word in text.isEmpty ? [] : text.split(separator: " ", omittingEmptySubsequences: false) {
                    guard let v = Double(word), !v.isNaN else {
                        throw Invalid(reason: "Invalid latency-tracking-info-percentiles parameters")
                    }
                    guard v >= 0 && v <= 100 else {
                        throw Invalid(reason: "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]")
                    }
                    values.append(v)
                }
                canonical = values.map(Self.formatPercentile).joined(separator: " ")
            case "save":
                // Runnel's checkpoints play the RDB's part; the rules are kept, checked and
                // printed as Redis does: pairs of seconds (>= 1) and changes (>= 0), each read by
                // strtoll to its end, the changes then stored in a C int.
                guard !text.isEmpty else {
                    canonical = ""
                    break
                }
                let parts = text.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count % 2 == 0 else { throw Invalid(reason: "Invalid save parameters") }
                var rules: [String] = []
                for j in stride(from: 0, to: parts.count, by: 2) {
                    guard let seconds = Self.strtollWhole(parts[j]), seconds >= 1,
                        let changes = Self.strtollWhole(parts[j + 1]), changes >= 0
                    else { throw Invalid(reason: "Invalid save parameters") }
                    rules.append("\(seconds) \(Int32(truncatingIfNeeded: changes))")
                }
                canonical = rules.joined(separator: " ")
            case "oom-score-adj-values":
                // Three strtoll values in -2000…2000, split at single spaces as Redis's sdssplitlen
                // does (two spaces make an empty word, which strtoll reads as 0).
                let words = text.isEmpty ? [] : text.split(separator: " ", omittingEmptySubsequences: false)
                guard words.count == 3 else { throw Invalid(reason: "wrong number of arguments") }
                var values: [Int64] = []
                for w in words {
                    guard let v = Self.strtollWhole(w), v >= -2000 && v <= 2000 else {
                        throw Invalid(reason: "Invalid oom-score-adj-values, elements must be between -2000 and 2000.")
                    }
                    values.append(v)
                }
                canonical = values.map(String.init).joined(separator: " ")
            case "shutdown-on-sigint", "shutdown-on-sigterm":
                canonical = try Self.shutdownFlags(text)
            case "notify-keyspace-events":
                guard let flags = KeyspaceEventFlags(text) else {
                    throw Invalid(reason: "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
                }
                canonical = flags.description
            default:
                canonical = text
            }
        }
        values[index] = canonical
        switch d.name {
        case "port": port = Int(canonical)!
        case "metrics-port": metricsPort = Int(canonical)!
        case "tls-port": tlsPort = Int(canonical)!
        case "tls-cert-file": tlsCertFile = canonical
        case "tls-key-file": tlsKeyFile = canonical
        case "tls-ca-cert-file": tlsCACertFile = canonical
        case "tls-auth-clients": tlsAuthClients = canonical
        case "bind": bindAddresses = canonical.split(separator: " ").map(String.init)
        case "dir": dir = canonical
        case "databases": databases = Int(canonical)!
        case "maxclients": maxclients = Int(canonical)!
        case "timeout": timeoutSeconds = Int(canonical)!
        case "proto-max-bulk-len": protoMaxBulkLen = Int(canonical)!
        case "client-query-buffer-limit": clientQueryBufferLimit = Int(canonical)!
        case "client-output-buffer-limit": _ = outputLimits.apply(canonical)
        case "notify-keyspace-events": keyspaceEvents = KeyspaceEventFlags(canonical)!
        case "slowlog-log-slower-than": slowlogSlowerThan = Int(canonical)!
        case "slowlog-max-len": slowlogMaxLen = Int(canonical)!
        case "latency-monitor-threshold": latencyMonitorThreshold = Int(canonical)!
        case "latency-tracking": latencyTracking = canonical == "yes"
        case "latency-tracking-info-percentiles":
            latencyTrackingPercentiles = canonical.split(separator: " ").compactMap { Double($0) }
        case "hz": hz = Int(canonical)!
        case "loglevel": loglevel = canonical
        case "requirepass": requirepass = canonical
        case "protected-mode": protectedMode = canonical == "yes"
        case "aclfile": aclfile = canonical
        case "acllog-max-len": acllogMaxLen = Int(canonical)!
        case "acl-pubsub-default": aclPubsubDefault = canonical
        case "maxmemory": maxmemory = Int(clamping: UInt64(canonical)!)  // past 2^63−1: no limit either way
        case "maxmemory-policy": lfuPolicy = canonical.hasSuffix("-lfu")
        case "lfu-log-factor": lfuLogFactor = Int(canonical)!
        case "lfu-decay-time": lfuDecayTime = Int(canonical)!
        case "appendfsync": appendfsync = canonical
        case "appendonly": appendonly = canonical == "yes"
        case "segment-max-bytes": segmentMaxBytes = Int(canonical)!
        case "checkpoint-min-bytes": checkpointMinBytes = Int(canonical)!
        case "checkpoint-compression-level": checkpointCompressionLevel = Int(canonical)!
        case "checkpoint-interval": checkpointIntervalSeconds = Int(canonical)!
        case "log-compression-level": logCompressionLevel = Int(canonical)!
        case "log-commit-spin-us": logCommitSpinUs = Int(canonical)!
        case "log-commit-delay-us": logCommitDelayUs = Int(canonical)!
        case "repair": repair = canonical == "yes"
        case "snapshot-retain": snapshotRetain = Int(canonical)!
        case "stream-node-max-entries": streamNodeMaxEntries = Int(canonical)!
        case "stream-node-max-bytes": streamNodeMaxBytes = Int(canonical)!
        default: break
        }
    }

    /// A percentile as Redis prints it: `50`, `99.9`.
    static func formatPercentile(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : "\(v)"
    }

    /// `shutdown-on-sigint`/`-sigterm`: Redis's flag enum. Words (split at single spaces) name
    /// flags case-insensitively; the value prints as the one name that matches it exactly, else
    /// the set flags in declaration order ("force now save" → "save now force").
    private static func shutdownFlags(_ text: String) throws(Invalid) -> String {
        let names = ["default", "save", "nosave", "now", "force"]
        let invalid = Invalid(reason: "argument(s) must be one of the following: " + names.joined(separator: ", "))
        guard !text.isEmpty else { throw invalid }
        var flags = 0
        for w in text.split(separator: " ", omittingEmptySubsequences: false) {
            guard let i = names.firstIndex(of: w.lowercased()) else { throw invalid }
            flags |= i == 0 ? 0 : 1 << (i - 1)
        }
        if flags & 0b11 == 0b11 {
            throw Invalid(reason: "shutdown options SAVE and NOSAVE can't be used simultaneously")
        }
        if flags == 0 { return "default" }
        return (1..<names.count).filter { flags & (1 << ($0 - 1)) != 0 }.map { names[$0] }.joined(separator: " ")
    }

    /// C's strtoll(text, &end, 10) where `*end` must be the terminating NUL: leading spaces, an
    /// optional sign, digits, clamped to Int64 on overflow; nil if anything follows the digits
    /// or there are none (then `end` stays at the start), except that "" reads as 0.
    static func strtollWhole(_ text: Substring) -> Int64? {
        var bytes = text.utf8[...]
        while let c = bytes.first, c == 32 || (9...13).contains(c) { bytes = bytes.dropFirst() }
        var negative = false
        if let c = bytes.first, c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
            negative = c == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        let digits = bytes.prefix { $0 >= 48 && $0 <= 57 }
        if digits.isEmpty { return text.isEmpty ? 0 : nil }
        guard digits.count == bytes.count else { return nil }
        var value: Int64 = 0
        for d in digits {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(d - 48))
            if o1 || o2 { return negative ? .min : .max }
            value = a
        }
        return negative ? -value : value
    }

    /// A memory value as Redis's `memtoull` reads it: digits and an optional unit (b, k, kb,
    /// m, mb, g, gb, any case); no digits read as 0 (`""`, `kb`); a sign, other text or 128
    /// digits or more are refused (nil). As in C, digits past 2^64-1 read as 2^64-1 and the
    /// unit multiplies modulo 2^64.
    static func memtoull(_ text: String) -> UInt64? {
        let bytes = Array(text.utf8)
        let digitCount = bytes.prefix { $0 >= 48 && $0 <= 57 }.count
        let unit = String(decoding: bytes[digitCount...], as: UTF8.self).lowercased()
        let units: [String: UInt64] = ["": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1_000_000, "mb": 1 << 20,
                                       "g": 1_000_000_000, "gb": 1 << 30]
        guard let mul = units[unit], digitCount < 128 else { return nil }
        var value: UInt64 = 0
        for d in bytes[..<digitCount] {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d - 48))
            if o1 || o2 {
                value = .max
                break
            }
            value = a
        }
        return value &* mul
    }

    /// `memtoull` stored in a C `long long`, as Redis's memory directives are: values of 2^63
    /// and more read as negative, and then fail the directive's range check.
    static func parseMemory(_ text: String) -> Int? {
        memtoull(text).map { Int(bitPattern: UInt($0)) }
    }

    // MARK: - Config files (redis.conf syntax)

    /// Error in a config file or command-line directive, reported as redis-server does.
    public struct FileError: Error, Sendable, CustomStringConvertible {
        public let line: Int
        public let text: String
        public let reason: String
        public var description: String {
            "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line \(line)\n>>> '\(text)'\n\(reason)"
        }
    }

    /// Applies the lines of a redis.conf-syntax text: `directive arg…`, `#` comments, quotes.
    public mutating func load(configText: String) throws(FileError) {
        var lineNo = 0
        var saveRules: String?  // `save` lines add rules, as in redis.conf; `save ""` clears them
        for rawLine in configText.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            let line = rawLine.trimmingCharacters(in: " \t\r")
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let parts = ConfigSplitter.split(line), !parts.isEmpty else {
                throw FileError(line: lineNo, text: String(line), reason: "Unbalanced quotes in configuration line")
            }
            let name = parts[0].lowercased()
            if name == "user" {
                guard parts.count >= 2 else {
                    throw FileError(line: lineNo, text: String(line), reason: "Bad directive or wrong number of arguments")
                }
                userLines.append(Array(parts.dropFirst()))
                continue
            }
            if name == "include" || name == "rename-command" || name == "loadmodule" {
                continue  // accepted and ignored: Runnel has one config file and no modules
            }
            guard parts.count >= 2 || name == "save" || name == "requirepass" || name == "logfile" || name == "pidfile"
            else {
                throw FileError(line: lineNo, text: String(line), reason: "Bad directive or wrong number of arguments")
            }
            var value = parts.dropFirst().joined(separator: " ")
            if name == "save" {
                if let rules = saveRules, !rules.isEmpty, !value.isEmpty { value = rules + " " + value }
                saveRules = value
            }
            do {
                try set(name, value, startup: true)
            } catch {
                let reason = error.reason == "unknown" ? "Bad directive or wrong number of arguments" : error.reason
                throw FileError(line: lineNo, text: String(line), reason: reason)
            }
        }
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> Substring {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return s
    }
}

/// Splits a config line with sdssplitargs rules (shared with inline commands).
enum ConfigSplitter {
    static func split(_ line: Substring) -> [String]? {
        guard let parts = InlineSplitter.split(bytes: Array(line.utf8)) else { return nil }
        return parts.map { String(decoding: $0, as: UTF8.self) }
    }
}

/// `client-output-buffer-limit`: hard limit, soft limit and soft seconds per client class.
public struct OutputBufferLimits: Sendable, CustomStringConvertible {
    public struct Limit: Sendable {
        public var hard: Int
        public var soft: Int
        public var softSeconds: Int
    }
    public var normal = Limit(hard: 0, soft: 0, softSeconds: 0)
    public var replica = Limit(hard: 268_435_456, soft: 67_108_864, softSeconds: 60)
    public var pubsub = Limit(hard: 33_554_432, soft: 8_388_608, softSeconds: 60)

    public static let defaults = OutputBufferLimits()

    /// Applies `class hard soft seconds` groups; nil, or Redis's error for a malformed text
    /// (nothing changes then). As Redis: sizes are memory values, the seconds are read with
    /// `strtoll` into a C `int` (so 2^31 reads as negative and is refused, 2^32 as 0).
    mutating func apply(_ text: String) -> String? {
        // Words at single spaces, as Redis's sdssplitlen: "a  b" has an empty word.
        let parts = text.isEmpty ? [] : text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard parts.count % 4 == 0 else { return "Wrong number of arguments in buffer limit configuration." }
        var copy = self
        var i = 0
        while i < parts.count {
            let cls = parts[i].lowercased()
            guard ["normal", "slave", "replica", "pubsub"].contains(cls) else {
                return "Invalid client class specified in buffer limit configuration."
            }
            guard let hard = ServerConfig.parseMemory(parts[i + 1]),
                let soft = ServerConfig.parseMemory(parts[i + 2]),
                let secs = Self.cIntSeconds(parts[i + 3]), secs >= 0
            else { return "Error in hard, soft or soft_seconds setting in buffer limit configuration." }
            let limit = Limit(hard: hard, soft: soft, softSeconds: secs)
            switch cls {
            case "normal": copy.normal = limit
            case "pubsub": copy.pubsub = limit
            default: copy.replica = limit
            }
            i += 4
        }
        self = copy
        return nil
    }

    /// `strtoll` (saturating, whole text) then truncated to 32 bits; nil when not a number.
    static func cIntSeconds(_ text: String) -> Int? {
        var bytes = Substring(text)
        var negative = false
        if let f = bytes.first, f == "-" || f == "+" {
            negative = f == "-"
            bytes = bytes.dropFirst()
        }
        guard bytes.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        var v: Int64 = 0
        var saturated = false
        for c in bytes.utf8 {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (r, o2) = m.addingReportingOverflow(Int64(c - 48))
            if o1 || o2 { saturated = true; break }
            v = r
        }
        if saturated { v = negative ? Int64.min : Int64.max } else if negative { v = -v }
        return Int(Int32(truncatingIfNeeded: v))
    }

    public var description: String {
        // Sizes print as the unsigned values Redis keeps (a size past 2^63 is stored wrapped).
        func u(_ v: Int) -> String { String(UInt(bitPattern: v)) }
        return "normal \(u(normal.hard)) \(u(normal.soft)) \(normal.softSeconds) slave \(u(replica.hard)) \(u(replica.soft)) \(replica.softSeconds) pubsub \(u(pubsub.hard)) \(u(pubsub.soft)) \(pubsub.softSeconds)"
    }
}

/// `notify-keyspace-events` classes, parsed and printed as Redis does.
public struct KeyspaceEventFlags: Sendable, CustomStringConvertible, Equatable {
    public var keyspace = false  // K
    public var keyevent = false  // E
    public var generic = false  // g
    public var string = false  // $
    public var list = false  // l
    public var set = false  // s
    public var hash = false  // h
    public var zset = false  // z
    public var expired = false  // x
    public var evicted = false  // e
    public var stream = false  // t
    public var keyMiss = false  // m
    public var module = false  // d
    public var newKey = false  // n

    public init() {}

    public init?(_ text: String) {
        for c in text {
            switch c {
            case "A":
                generic = true; string = true; list = true; set = true; hash = true; zset = true
                expired = true; evicted = true; stream = true; module = true
            case "g": generic = true
            case "$": string = true
            case "l": list = true
            case "s": set = true
            case "h": hash = true
            case "z": zset = true
            case "x": expired = true
            case "e": evicted = true
            case "K": keyspace = true
            case "E": keyevent = true
            case "t": stream = true
            case "m": keyMiss = true
            case "d": module = true
            case "n": newKey = true
            default: return nil
            }
        }
    }

    public var isEnabled: Bool { keyspace || keyevent }

    public var description: String {
        var s = ""
        let all = generic && string && list && set && hash && zset && expired && evicted && stream && module
        if all {
            s += "A"
        } else {
            if generic { s += "g" }
            if string { s += "$" }
            if list { s += "l" }
            if set { s += "s" }
            if hash { s += "h" }
            if zset { s += "z" }
            if expired { s += "x" }
            if evicted { s += "e" }
            if stream { s += "t" }
            if module { s += "d" }
        }
        if keyspace { s += "K" }
        if keyevent { s += "E" }
        if keyMiss { s += "m" }
        if newKey { s += "n" }
        return s
    }
}
