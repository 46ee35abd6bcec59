import ArgumentParser
import Dispatch
import Logging
import RunnelBroker

#if canImport(Glibc)
import Glibc
#endif

@main
struct RunnelServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runnel-server",
        abstract: "A durable, Redis-compatible stream broker.",
        discussion: """
            Like redis-server, the first argument may be a config file in redis.conf syntax, and any \
            directive can be given as an option: `--<directive> <value…>` (e.g. --hz 20, \
            --client-output-buffer-limit "pubsub 32mb 8mb 60"). Options override the file.
            """,
        version: Broker.runnelVersion
    )

    @Option(help: "TCP port to listen on (0 picks a free port).")
    var port: Int?

    @Option(help: "Addresses to bind, space separated; a leading '-' makes one optional.")
    var bind: String?

    @Option(help: "Data directory (default ./runnel-data).")
    var dir: String?

    @Option(help: "Number of databases (default 16).")
    var databases: Int?

    @Option(help: "Maximum number of connected clients (default 10000).")
    var maxclients: Int?

    @Option(help: "Durability policy: always | everysec | no (default everysec).")
    var appendfsync: String?

    @Option(help: "Log level: debug | verbose | notice | warning (default notice).")
    var loglevel: String?

    @Option(help: "Password clients must AUTH with (default: none).")
    var requirepass: String?

    @Option(help: "Serve Prometheus metrics over HTTP (GET /metrics) on this port (default: off).")
    var metricsPort: Int?

    @Flag(help: "Start even if the log is corrupt in the middle: cut it at the first bad frame (the damaged files are kept in DIR/damaged/) and report what was dropped.")
    var repair = false

    @Argument(parsing: .allUnrecognized, help: "[config-file] [--<directive> <value>…]")
    var rest: [String] = []

    func run() throws {
        var config = ServerConfig()
        var configFile = ""
        // The options above are for --help; the arguments are read here as redis-server reads
        // them, in order: `--name value…` appends "name value…" to the config after the file,
        // so a directive may take several words (`--bind 127.0.0.1 ::1`) and a later one wins.
        var args = Array(CommandLine.arguments.dropFirst())
        if let first = args.first, !first.hasPrefix("--") {
            configFile = first
            args.removeFirst()
        }
        do {
            if !configFile.isEmpty {
                guard let text = readFile(configFile) else {
                    printError("Fatal error, can't open config file '\(configFile)': \(String(cString: strerror(errno)))\n")
                    throw ExitCode(1)
                }
                try config.load(configText: text)
            }
            let lines = try Self.directiveLines(args)
            try config.load(configText: lines.joined(separator: "\n"))
        } catch let error as ServerConfig.FileError {
            printError("\(error)\n")
            throw ExitCode(1)
        }

        let level: Logger.Level
        switch config.loglevel {
        case "debug": level = .debug
        case "verbose": level = .info
        case "warning": level = .warning
        default: level = .notice
        }
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "runnel")

        logger.notice("Runnel \(Broker.runnelVersion) starting, pid=\(getpid()), data dir \(config.dir)")

        let server: RunnelServer
        do {
            server = try RunnelServer(config: config, configFile: configFile, logger: logger)
        } catch let error as ACLStartupError {
            logger.critical("\(error)")
            throw ExitCode(1)
        } catch {
            logger.critical("Can't open the data directory: \(error)")
            throw ExitCode(1)
        }
        // Before listening: a signal that comes while the addresses are being bound shuts the
        // server down like any other (set up after, it was ignored, and the server ran on).
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler {
                logger.notice("Received \(sig == SIGTERM ? "SIGTERM" : "SIGINT") scheduling shutdown...")
                server.initiateShutdown()
            }
            src.resume()
            sources.append(src)
        }
        do {
            try server.start()
        } catch {
            if error is TLSSetupError {
                logger.critical("Failed to configure TLS, aborting: \(error)")
            } else {
                logger.critical("Failed listening on port \(config.port) (tcp), aborting: \(error)")
            }
            // Close the log and release the data directory before exiting.
            server.initiateShutdown()
            try? server.waitUntilShutdown()
            throw ExitCode(1)
        }

        try server.waitUntilShutdown()
        logger.notice("Runnel is now ready to exit, bye bye...")
        _ = sources
    }
}

extension RunnelServerCommand {
    /// Command-line options as config lines, by redis-server 7.0's rules: `--name` starts a
    /// directive and the argument after it is always its value (even one starting with `--`),
    /// further arguments are more values, and an argument holding spaces after `--` ("--port
    /// 6380") is a whole directive. `--save` directly followed by an option, or last, means
    /// `save ""`; `--repair` (a flag here) means `repair yes` in the same places.
    static func directiveLines(_ args: [String]) throws -> [String] {
        var lines: [String] = []
        var current: [String] = []
        var needsValue = false
        for (i, a) in args.enumerated() {
            if !needsValue && a.hasPrefix("--") {
                if !current.isEmpty { lines.append(current.joined(separator: " ")) }
                let body = String(a.dropFirst(2))
                current = [body]
                needsValue = !body.contains(" ")
                let name = body.lowercased()
                let nextIsOption = i + 1 == args.count || args[i + 1].hasPrefix("--")
                if needsValue && nextIsOption && (name == "save" || name == "repair") {
                    current.append(name == "save" ? "\"\"" : "yes")
                    needsValue = false
                }
            } else if current.isEmpty {
                printError("Unexpected argument '\(a)'\n")
                throw ExitCode(1)
            } else {
                current.append(quote(a))
                needsValue = false
            }
        }
        if !current.isEmpty { lines.append(current.joined(separator: " ")) }
        return lines
    }
}

private func quote(_ s: String) -> String {
    if s.isEmpty { return "\"\"" }
    guard s.contains(where: { $0 == " " || $0 == "\"" || $0 == "'" || $0 == "\\" }) else { return s }
    var out = "\""
    for c in s {
        if c == "\"" || c == "\\" { out.append("\\") }
        out.append(c)
    }
    return out + "\""
}

private func readFile(_ path: String) -> String? {
    guard let fp = fopen(path, "r") else { return nil }
    defer { fclose(fp) }
    var bytes: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buf, 1, buf.count, fp)
        if n <= 0 { break }
        bytes.append(contentsOf: buf[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}

private func printError(_ text: String) {
    var bytes = Array(text.utf8)
    _ = write(2, &bytes, bytes.count)
}
