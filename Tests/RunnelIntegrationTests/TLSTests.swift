import Foundation
import Testing
import RunnelTestSupport

/// TLS on `tls-port` with certificates made at test time by openssl: redis-cli --tls connects
/// with a client certificate, is refused without one when `tls-auth-clients yes`, and gets in
/// without one when `tls-auth-clients no`. Data written over TLS is the same data.
@Suite("TLS", .serialized)
struct TLSTests {
    /// A CA, a server certificate for 127.0.0.1/localhost and a client certificate.
    static func makeCertificates() throws -> String {
        let dir = ServerProcess.makeTempDir("runnel-tls")
        let script = """
            set -e
            cd '\(dir)'
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj '/CN=Runnel Test CA' 2>/dev/null
            printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext
            for who in server client; do
              openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr -subj "/CN=$who" 2>/dev/null
              openssl x509 -req -in $who.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $who.crt -days 2 -extfile san.ext 2>/dev/null
            done
            """
        let (status, out) = try runCommand("/bin/sh", ["-c", script])
        guard status == 0 else { throw ServerProcess.Failure.missing("openssl failed: \(out)") }
        return dir
    }

    /// runnel-server with a TLS port using the test certificates; returns it and the TLS port.
    static func server(_ dir: String, _ extra: [String]) throws -> (ServerProcess, Int) {
        let tlsPort = ServerProcess.freePort()
        let server = try ServerProcess.runnel(extraArgs: [
            "--tls-port", "\(tlsPort)", "--tls-cert-file", dir + "/server.crt", "--tls-key-file", dir + "/server.key",
        ] + extra)
        return (server, tlsPort)
    }

    func cli(_ port: Int, _ dir: String, clientCert: Bool, _ args: [String]) throws -> (Int32, String) {
        guard let cli = ServerProcess.which("redis-cli") else { throw ServerProcess.Failure.missing("redis-cli") }
        var tls = ["--tls", "--cacert", dir + "/ca.crt", "-h", "127.0.0.1", "-p", "\(port)"]
        if clientCert { tls += ["--cert", dir + "/client.crt", "--key", dir + "/client.key"] }
        return try runCommand(cli, tls + args, timeoutMs: 20_000)
    }

    @Test("redis-cli --tls with a client certificate works; without one it is refused (tls-auth-clients yes)")
    func mutualTLS() throws {
        let dir = try Self.makeCertificates()
        let (server, tlsPort) = try Self.server(dir, ["--tls-ca-cert-file", dir + "/ca.crt"])
        defer { server.stop() }
        #expect(try cli(tlsPort, dir, clientCert: true, ["PING"]) == (0, "PONG\n"))
        #expect(try cli(tlsPort, dir, clientCert: true, ["XADD", "orders", "7-1", "sku", "A1"]) == (0, "7-1\n"))
        // The same data over the plain port.
        let plain = try TestConnection(port: server.port)
        #expect(try plain.command("XLEN", "orders") == .integer(1))
        // No client certificate: the handshake fails, no command runs.
        let (_, refused) = try cli(tlsPort, dir, clientCert: false, ["XADD", "orders", "8-1", "sku", "B2"])
        #expect(!refused.contains("8-1"), "\(refused)")
        #expect(try plain.command("XLEN", "orders") == .integer(1))
        // A plain-text client on the TLS port gets nothing it could mistake for a reply.
        let (_, garbled) = try runCommand(ServerProcess.which("redis-cli")!, ["-p", "\(tlsPort)", "PING"], timeoutMs: 20_000)
        #expect(!garbled.contains("PONG"))
    }

    @Test("tls-auth-clients no: TLS without a client certificate")
    func serverOnlyTLS() throws {
        let dir = try Self.makeCertificates()
        let (server, tlsPort) = try Self.server(dir, ["--tls-auth-clients", "no"])
        defer { server.stop() }
        #expect(try cli(tlsPort, dir, clientCert: false, ["PING"]) == (0, "PONG\n"))
    }

    /// Subject of the certificate the server presents on `port`.
    func servedSubject(_ port: Int, _ dir: String) throws -> String {
        let (_, out) = try runCommand("/bin/sh", ["-c",
            "openssl s_client -connect 127.0.0.1:\(port) -cert '\(dir)/client.crt' -key '\(dir)/client.key' </dev/null 2>/dev/null | openssl x509 -noout -subject"])
        return out
    }

    @Test("CONFIG SET of the tls-* files rotates the certificate for new connections; a bad file changes nothing")
    func certificateRotation() throws {
        let dir = try Self.makeCertificates()
        let (server, tlsPort) = try Self.server(dir, ["--tls-ca-cert-file", dir + "/ca.crt"])
        defer { server.stop() }
        #expect(try servedSubject(tlsPort, dir).contains("CN = server"))
        let (status, out) = try runCommand("/bin/sh", ["-c", """
            cd '\(dir)' && openssl req -newkey rsa:2048 -nodes -keyout rotated.key -out rotated.csr -subj /CN=rotated 2>/dev/null \
              && openssl x509 -req -in rotated.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out rotated.crt -days 2 -extfile san.ext 2>/dev/null
            """])
        #expect(status == 0, "\(out)")
        let admin = try TestConnection(port: server.port)
        #expect(try admin.command("CONFIG", "SET", "tls-cert-file", dir + "/nope.crt") == .error(
            "ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration. Check server logs."))
        #expect(try admin.command("CONFIG", "GET", "tls-cert-file") == .array([.bulk(Array("tls-cert-file".utf8)), .bulk(Array((dir + "/server.crt").utf8))]))
        #expect(try cli(tlsPort, dir, clientCert: true, ["PING"]) == (0, "PONG\n"))
        #expect(try admin.command("CONFIG", "SET", "tls-cert-file", dir + "/rotated.crt", "tls-key-file", dir + "/rotated.key") == .simple("OK"))
        #expect(try servedSubject(tlsPort, dir).contains("CN = rotated"))
        #expect(try cli(tlsPort, dir, clientCert: true, ["PING"]) == (0, "PONG\n"))
        // Client certificates become optional at run time.
        #expect(try admin.command("CONFIG", "SET", "tls-auth-clients", "no") == .simple("OK"))
        #expect(try cli(tlsPort, dir, clientCert: false, ["PING"]) == (0, "PONG\n"))
    }

    @Test("CONFIG SET port, bind and tls-port move the listeners at run time; a failure keeps the old ones")
    func listenersAtRunTime() throws {
        let dir = try Self.makeCertificates()
        let server = try ServerProcess.runnel(extraArgs: [
            "--tls-cert-file", dir + "/server.crt", "--tls-key-file", dir + "/server.key", "--tls-auth-clients", "no",
        ])
        defer { server.stop() }
        let existing = try TestConnection(port: server.port)
        let newPort = ServerProcess.freePort()
        #expect(try existing.command("CONFIG", "SET", "port", "\(newPort)") == .simple("OK"))
        #expect(try TestConnection(port: newPort).command("PING") == .simple("PONG"))
        #expect((try? TestConnection(port: server.port)) == nil, "the old port still accepts")
        #expect(try existing.command("INFO", "server").text?.contains("tcp_port:\(newPort)\r\n") == true)
        // A port another process holds: Redis's error, and the current port keeps serving.
        let other = try ServerProcess.redis()
        defer { other.stop() }
        #expect(try existing.command("CONFIG", "SET", "port", "\(other.port)") == .error(
            "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs."))
        #expect(try existing.command("CONFIG", "SET", "bind", "192.0.2.1") == .error(
            "ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses."))
        #expect(try TestConnection(port: newPort).command("PING") == .simple("PONG"))
        #expect(try existing.command("CONFIG", "GET", "port") == .array([.bulk(Array("port".utf8)), .bulk(Array("\(newPort)".utf8))]))
        // TLS comes and goes with tls-port.
        let tlsPort = ServerProcess.freePort()
        #expect(try existing.command("CONFIG", "SET", "tls-port", "\(tlsPort)") == .simple("OK"))
        #expect(try cli(tlsPort, dir, clientCert: false, ["PING"]) == (0, "PONG\n"))
        #expect(try existing.command("CONFIG", "SET", "tls-port", "0") == .simple("OK"))
        let (_, after) = try cli(tlsPort, dir, clientCert: false, ["PING"])
        #expect(!after.contains("PONG"))
        #expect(try existing.command("PING") == .simple("PONG"))
    }

    @Test("a missing certificate file stops the server at start with a clear message")
    func missingCertificate() throws {
        let dir = ServerProcess.makeTempDir("runnel-tls-missing")
        let (status, out) = try runCommand(try ServerProcess.runnelBinary(), [
            "--port", "\(ServerProcess.freePort())", "--dir", dir + "/data", "--tls-port", "\(ServerProcess.freePort())",
            "--tls-cert-file", dir + "/nope.crt", "--tls-key-file", dir + "/nope.key", "--tls-auth-clients", "no",
        ], timeoutMs: 20_000)
        #expect(status != 0)
        #expect(out.contains("nope.crt"), "\(out)")
    }
}
