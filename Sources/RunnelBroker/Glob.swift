/// Glob matching with redis-server's rules (`stringmatchlen`): `*`, `?`, `[abc]`, `[^abc]`,
/// `[a-z]` (reversed ranges allowed), and `\` to escape the next character.
public enum Glob {
    public static func matches<P: Collection, S: Collection>(
        pattern: P, _ string: S, caseInsensitive: Bool = false
    ) -> Bool where P.Element == UInt8, S.Element == UInt8 {
        let p = Array(pattern)
        let s = Array(string)
        var skipLongerMatches = false
        return p.withUnsafeBufferPointer { pp in
            s.withUnsafeBufferPointer { sp in
                match(pp, 0, sp, 0, caseInsensitive, &skipLongerMatches, 0)
            }
        }
    }

    /// DEBUG STRINGMATCH-TEST: random patterns and strings (glob metacharacters included,
    /// unbalanced brackets and trailing escapes too) must match or not without failing.
    /// Returns how many matched.
    @discardableResult
    static func fuzzTest(rounds: Int) -> Int {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("ab*?[]^-\\\u{0}z".utf8)
        var matched = 0
        for _ in 0..<rounds {
            let pattern = (0..<Int.random(in: 0...12, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            let string = (0..<Int.random(in: 0...12, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            if matches(pattern: pattern, string, caseInsensitive: Bool.random(using: &rng)) { matched += 1 }
        }
        return matched
    }

    @inline(__always)
    private static func lower(_ c: UInt8) -> UInt8 {
        (c >= 65 && c <= 90) ? c + 32 : c
    }

    private static func match(
        _ p: UnsafeBufferPointer<UInt8>, _ pStart: Int, _ s: UnsafeBufferPointer<UInt8>, _ sStart: Int,
        _ nocase: Bool, _ skipLonger: inout Bool, _ nesting: Int
    ) -> Bool {
        // Bound recursion as Redis does, so a pathological pattern cannot blow the stack.
        if nesting > 1000 { return false }
        var pi = pStart
        var si = sStart
        while pi < p.count && si < s.count {
            switch p[pi] {
            case UInt8(ascii: "*"):
                while pi + 1 < p.count && p[pi + 1] == UInt8(ascii: "*") { pi += 1 }
                if pi + 1 == p.count { return true }
                var k = si
                while k < s.count {
                    if match(p, pi + 1, s, k, nocase, &skipLonger, nesting + 1) { return true }
                    if skipLonger { return false }
                    k += 1
                }
                skipLonger = true
                return false
            case UInt8(ascii: "?"):
                si += 1
            case UInt8(ascii: "["):
                pi += 1
                let negate = pi < p.count && p[pi] == UInt8(ascii: "^")
                if negate { pi += 1 }
                var matched = false
                while true {
                    if pi < p.count && p[pi] == UInt8(ascii: "\\") && p.count - pi >= 2 {
                        pi += 1
                        if p[pi] == s[si] { matched = true }
                    } else if pi < p.count && p[pi] == UInt8(ascii: "]") {
                        break
                    } else if pi >= p.count {
                        pi -= 1
                        break
                    } else if p.count - pi >= 3 && p[pi + 1] == UInt8(ascii: "-") {
                        var start = p[pi]
                        var end = p[pi + 2]
                        var c = s[si]
                        if start > end { swap(&start, &end) }
                        if nocase {
                            start = lower(start)
                            end = lower(end)
                            c = lower(c)
                        }
                        pi += 2
                        if c >= start && c <= end { matched = true }
                    } else {
                        if nocase {
                            if lower(p[pi]) == lower(s[si]) { matched = true }
                        } else if p[pi] == s[si] {
                            matched = true
                        }
                    }
                    pi += 1
                }
                if negate { matched.toggle() }
                if !matched { return false }
                si += 1
            case UInt8(ascii: "\\"):
                if p.count - pi >= 2 { pi += 1 }
                fallthrough
            default:
                if nocase {
                    if lower(p[pi]) != lower(s[si]) { return false }
                } else if p[pi] != s[si] {
                    return false
                }
                si += 1
            }
            pi += 1
            if si == s.count {
                while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
                break
            }
        }
        return pi == p.count && si == s.count
    }
}
