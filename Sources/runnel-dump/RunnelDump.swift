import ArgumentParser
import Logging
import RunnelStorage
import RunnelStreams

#if canImport(Glibc)
import Glibc
#endif

/// Exit codes, as documented in `--help`.
enum Exit {
    static let ok: Int32 = 0
    static let problems: Int32 = 1
    static let usage: Int32 = 2
}

@main
struct RunnelDump: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runnel-dump",
        abstract: "Inspect, verify, export, snapshot and restore a Runnel data directory.",
        discussion: """
            DIR is a data directory (e.g. ./runnel-data) or a snapshot (DIR/snapshots/<name>). Reading \
            never changes anything and works beside a running server (a tail being written is skipped). \
            Only `repair` and `restore` write.

            Exit codes: 0 ok; 1 problems found (verify, repair, a corrupt log); 2 usage or I/O error.
            The format is described in docs/FORMAT.md.
            """,
        subcommands: [
            Segments.self, Cat.self, Stats.self, IndexCommand.self, Verify.self, Repair.self, Export.self,
            SnapshotCommand.self, Restore.self,
        ]
    )

    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            Glibc.exit(code.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)  // --help, --version
            }
            printErr(fullMessage(for: error))
            Glibc.exit(Exit.usage)
        }
    }
}

// MARK: - Shared options and helpers

struct Common: ParsableArguments {
    @Argument(help: "Data directory or snapshot directory.")
    var dir: String

    @Flag(name: .shortAndLong, help: "No progress output on stderr.")
    var quiet = false

    var directory: DataDirectory { DataDirectory(dir) }

    func checkExists() throws {
        var st = stat()
        guard stat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            printErr("runnel-dump: \(dir): not a directory")
            throw ExitCode(Exit.usage)
        }
    }

    /// A progress line on stderr when it is a terminal.
    func progress(_ what: String) -> ((Int, Int) -> Void)? {
        guard !quiet, isatty(2) != 0 else { return nil }
        return { done, total in
            printErr("\r\(what) \(done)/\(total)", newline: done == total)
        }
    }
}

func printErr(_ text: String, newline: Bool = true) {
    var bytes = Array((text + (newline ? "\n" : "")).utf8)
    _ = write(2, &bytes, bytes.count)
}

/// Fails with exit code 2 (I/O) or 1 (damage) for a storage error.
func fail(_ error: any Error) -> ExitCode {
    printErr("runnel-dump: \(error)")
    if let e = error as? StorageError {
        switch e {
        case .corrupt, .malformed: return ExitCode(Exit.problems)
        default: return ExitCode(Exit.usage)
        }
    }
    return ExitCode(Exit.usage)
}

/// Recovers the directory read-only.
func load(_ common: Common, visit: ((Recovery.VisitedRecord) -> Void)? = nil) throws -> Recovery.Result {
    try common.checkExists()
    do {
        return try Recovery.recover(
            common.directory, repair: false, readOnly: true, logger: Logger(label: "runnel-dump"), visit: visit,
            progress: common.progress("reading segment"))
    } catch {
        throw fail(error)
    }
}

/// Bytes as text: plain when printable and unambiguous, else quoted with escapes.
func render<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    let plain = !bytes.isEmpty && bytes.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    if plain { return String(decoding: bytes, as: UTF8.self) }
    var out = "\""
    for b in bytes {
        switch b {
        case UInt8(ascii: "\""): out += "\\\""
        case UInt8(ascii: "\\"): out += "\\\\"
        case 0x0A: out += "\\n"
        case 0x0D: out += "\\r"
        case 0x09: out += "\\t"
        case 0x20..<0x7F: out.append(Character(UnicodeScalar(b)))
        default: out += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
        }
    }
    return out + "\""
}

/// A JSON string literal of arbitrary bytes (invalid UTF-8 becomes U+FFFD).
func json<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    json(String(decoding: bytes, as: UTF8.self))
}

func json(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                let h = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}

func parseID(_ text: String?, default value: StreamID, isEnd: Bool) throws -> StreamID {
    guard let text else { return value }
    if text == "-" { return .zero }
    if text == "+" { return .max }
    let parts = text.split(separator: "-", omittingEmptySubsequences: false)
    guard parts.count <= 2, let ms = UInt64(parts[0]) else {
        printErr("runnel-dump: invalid stream ID '\(text)'")
        throw ExitCode(Exit.usage)
    }
    if parts.count == 1 { return StreamID(ms: ms, seq: isEnd ? .max : 0) }
    guard let seq = UInt64(parts[1]) else {
        printErr("runnel-dump: invalid stream ID '\(text)'")
        throw ExitCode(Exit.usage)
    }
    return StreamID(ms: ms, seq: seq)
}

func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
    let n = s.count
    if n >= width { return s }
    let fill = String(repeating: " ", count: width - n)
    return right ? fill + s : s + fill
}

func table(_ header: [String], _ rows: [[String]], rightAligned: Set<Int> = []) -> String {
    var widths = header.map(\.count)
    for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { pad($0.element, widths[$0.offset], right: rightAligned.contains($0.offset)) }
            .joined(separator: "  ").replacingTrailingSpaces()
    }
    return ([line(header)] + rows.map(line)).joined(separator: "\n")
}

extension String {
    func replacingTrailingSpaces() -> String {
        var s = self
        while s.hasSuffix(" ") { s.removeLast() }
        return s
    }
}

func ratio(_ raw: Int, _ disk: Int) -> String {
    guard disk > 0 else { return "-" }
    let r = Double(raw) / Double(disk)
    let c = Int((r * 100).rounded())
    return "\(c / 100).\(c % 100 < 10 ? "0" : "")\(c % 100)x"
}

func keyName(_ db: Int, _ key: [UInt8]) -> String { "\(db):\(render(key))" }
