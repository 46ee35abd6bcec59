import NIOCore
import NIOSSL

/// Why the TLS listener cannot start: which file, and what NIOSSL said.
public struct TLSSetupError: Error, CustomStringConvertible {
    public let description: String
}

enum TLS {
    /// The server context from `tls-cert-file`, `tls-key-file`, `tls-ca-cert-file` and
    /// `tls-auth-clients`, as redis-server reads them.
    static func makeContext(_ config: ServerConfig) throws -> NIOSSLContext {
        guard !config.tlsCertFile.isEmpty, !config.tlsKeyFile.isEmpty else {
            throw TLSSetupError(description: "tls-port is set: tls-cert-file and tls-key-file are required")
        }
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(config.tlsCertFile)
        } catch {
            throw TLSSetupError(description: "Failed to load certificate: \(config.tlsCertFile): \(error)")
        }
        do {
            key = try NIOSSLPrivateKey(file: config.tlsKeyFile, format: .pem)
        } catch {
            throw TLSSetupError(description: "Failed to load private key: \(config.tlsKeyFile): \(error)")
        }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        switch config.tlsAuthClients {
        case "no": tls.certificateVerification = .none
        case "optional": tls.certificateVerification = .optionalVerification
        default: tls.certificateVerification = .noHostnameVerification
        }
        if tls.certificateVerification != .none {
            guard !config.tlsCACertFile.isEmpty else {
                throw TLSSetupError(description: "tls-auth-clients \(config.tlsAuthClients) needs tls-ca-cert-file to check client certificates")
            }
            tls.trustRoots = .file(config.tlsCACertFile)
        }
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw TLSSetupError(description: "Failed to configure TLS: \(error)")
        }
    }
}
