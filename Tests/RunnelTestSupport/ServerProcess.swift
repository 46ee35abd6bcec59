import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A server process started by a test: redis-server (the oracle) or the runnel-server binary.
/// Bound to 127.0.0.1 on a free port, stopped by its PID.
public final class ServerProcess: @unchecked Sendable {
    // Immutable after init except `process`, which only the owning test touches.
    public let port: Int
    public let dataDir: String
    public let name: String
    private var process: Process?
    public private(set) var logPath: String

    public enum Failure: Error, CustomStringConvertible {
        case missing(String)
        case notReady(String, String)
        public var description: String {
            switch self {
            case .missing(let s): return s
            case .notReady(let name, let log): return "\(name) did not become ready; log:\n\(log)"
            }
        }
    }

    /// Picks a free loopback port by binding port 0 and releasing it.
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    public static func makeTempDir(_ prefix: String) -> String {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        let p = mkdtemp(&template)!
        return String(cString: p)
    }

    /// Path of an executable on PATH, or nil.
    public static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/usr/local/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if access(path, X_OK) == 0 { return path }
        }
        return nil
    }

    /// The runnel-server binary built next to the test bundle (or RUNNEL_SERVER_BIN).
    public static func runnelBinary() throws -> String {
        if let env = ProcessInfo.processInfo.environment["RUNNEL_SERVER_BIN"] { return env }
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        var dir = n > 0 ? String(cString: Array(buf[0..<n]) + [0]) : ""
        // .build/debug/RunnelPackageTests.xctest → .build/debug
        while !dir.isEmpty {
            dir = String(dir[..<(dir.lastIndex(of: "/") ?? dir.startIndex)])
            let candidate = dir + "/runnel-server"
            if access(candidate, X_OK) == 0 { return candidate }
            if dir.hasSuffix(".build") || dir.count <= 1 { break }
        }
        throw Failure.missing("runnel-server binary not found next to the tests; run `swift build` first (./tools/test does)")
    }

    /// The runnel-dump binary built next to runnel-server.
    public static func dumpBinary() throws -> String {
        let server = try runnelBinary()
        let dump = String(server.dropLast("runnel-server".count)) + "runnel-dump"
        guard access(dump, X_OK) == 0 else {
            throw Failure.missing("runnel-dump binary not found next to runnel-server; run `swift build` first (./tools/test does)")
        }
        return dump
    }

    init(name: String, executable: String, arguments: [String], port: Int, dataDir: String, environment: [String: String] = [:]) throws {
        self.name = name
        self.port = port
        self.dataDir = dataDir
        self.logPath = dataDir + "/server.log"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: dataDir)
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)
        p.standardOutput = log
        p.standardError = log
        p.standardInput = FileHandle.nullDevice
        if !environment.isEmpty {
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        try p.run()
        process = p
        try waitReady()
    }

    /// Starts a server, retrying on a new port when another process took the chosen one
    /// between picking it and binding it.
    static func withRetries(_ start: () throws -> ServerProcess) throws -> ServerProcess {
        var lastError: (any Error)?
        for _ in 0..<5 {
            do { return try start() } catch { lastError = error }
        }
        throw lastError!
    }

    /// Runs `script` against a fresh redis-server, then against a fresh runnel-server (both
    /// started first, both stopped after), and returns the two results for comparison.
    public static func sideBySide<T>(
        redisArgs: [String] = [], runnelArgs: [String] = [], _ script: (ServerProcess) throws -> T
    ) throws -> (redis: T, runnel: T) {
        let redis = try ServerProcess.redis(extraArgs: redisArgs)
        defer { redis.stop() }
        let runnel = try ServerProcess.runnel(extraArgs: runnelArgs)
        defer { runnel.stop() }
        return (try script(redis), try script(runnel))
    }

    /// Starts the oracle: redis-server with no persistence.
    /// `leadingArgs`: a config file, as redis-server takes it before its options.
    public static func redis(leadingArgs: [String] = [], extraArgs: [String] = []) throws -> ServerProcess {
        try withRetries { try redisOnce(leadingArgs: leadingArgs, extraArgs: extraArgs) }
    }

    static func redisOnce(leadingArgs: [String], extraArgs: [String]) throws -> ServerProcess {
        guard let bin = which("redis-server") else {
            throw Failure.missing("redis-server is not installed: run ./tools/test, which installs it")
        }
        let port = freePort()
        let dir = makeTempDir("runnel-oracle")
        return try ServerProcess(
            name: "redis-server", executable: bin,
            arguments: leadingArgs + ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                      "--daemonize", "no", "--dir", dir] + extraArgs,
            port: port, dataDir: dir)
    }

    /// Starts the runnel-server binary on a fresh (or given) data directory.
    public static func runnel(
        dataDir: String? = nil, port: Int? = nil, leadingArgs: [String] = [], extraArgs: [String] = [],
        environment: [String: String] = [:]
    ) throws -> ServerProcess {
        if port != nil {
            return try runnelOnce(dataDir: dataDir, port: port, leadingArgs: leadingArgs, extraArgs: extraArgs, environment: environment)
        }
        return try withRetries {
            try runnelOnce(dataDir: dataDir, port: nil, leadingArgs: leadingArgs, extraArgs: extraArgs, environment: environment)
        }
    }

    static func runnelOnce(
        dataDir: String?, port: Int?, leadingArgs: [String], extraArgs: [String], environment: [String: String]
    ) throws -> ServerProcess {
        let bin = try runnelBinary()
        let port = port ?? freePort()
        let dir = dataDir ?? makeTempDir("runnel-test")
        return try ServerProcess(
            name: "runnel-server", executable: bin,
            arguments: leadingArgs + ["--port", "\(port)", "--bind", "127.0.0.1", "--dir", dir + "/data"] + extraArgs,
            port: port, dataDir: dir, environment: environment)
    }

    /// Waits until this process (not another one that grabbed the same port) answers.
    private func waitReady() throws {
        let deadline = monotonicMs() + 20_000
        while monotonicMs() < deadline {
            if let p = process, !p.isRunning { break }
            if let c = try? TestConnection(port: port), let r = try? c.command("PING") {
                if r == .simple("PONG"), let info = try? c.command("INFO", "server"), let text = info.text,
                    text.contains("process_id:\(pid)\r\n")
                {
                    return
                }
                // A server whose default user has a password answers NOAUTH: ready, if ours runs.
                if case .error(let e) = r, e.hasPrefix("NOAUTH"), process?.isRunning == true { return }
            }
            usleep(20_000)
        }
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        stop()
        throw Failure.notReady(name, log)
    }

    public var pid: Int32 { process?.processIdentifier ?? 0 }
    public var isRunning: Bool { process?.isRunning ?? false }

    /// Sends a signal by PID.
    public func signal(_ sig: Int32) { if pid > 0 { kill(pid, sig) } }

    /// Waits up to `timeoutMs` for the process to exit; returns its status or nil.
    public func waitForExit(timeoutMs: Int) -> Int32? {
        guard let p = process else { return nil }
        let deadline = monotonicMs() + timeoutMs
        while p.isRunning && monotonicMs() < deadline { usleep(10_000) }
        return p.isRunning ? nil : p.terminationStatus
    }

    /// Stops the server: SIGTERM, then SIGKILL after 5 s.
    public func stop() {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, SIGTERM)
        if waitForExit(timeoutMs: 5000) == nil {
            kill(p.processIdentifier, SIGKILL)
            _ = waitForExit(timeoutMs: 5000)
        }
    }

    /// Kills the process with SIGKILL and waits for it to be gone.
    public func kill9() {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, SIGKILL)
        _ = waitForExit(timeoutMs: 10_000)
    }

    public func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    deinit { stop() }
}

/// Runs a short-lived command and returns its exit status and combined output.
///
/// Waits by polling with a deadline instead of `Process.waitUntilExit()`, which can hang on
/// Linux when several processes end at once.
public func runCommand(_ executable: String, _ arguments: [String], timeoutMs: Int = 60_000) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let deadline = monotonicMs() + timeoutMs
    while p.isRunning && monotonicMs() < deadline { usleep(5_000) }
    if p.isRunning {
        kill(p.processIdentifier, SIGKILL)
        return (-1, out + "\n(killed after \(timeoutMs) ms)")
    }
    return (p.terminationStatus, out)
}
