import CFuzzerDriver
import Foundation

/// One fuzz target's program: libFuzzer's driver, with the command line it
/// was given, calling `test` with each input. (Each target's main.swift
/// calls this; libFuzzer's own main cannot be used, as SwiftPM names an
/// executable's entry point itself.)
public func runFuzzer(_ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, test))
}

/// The fuzzer's bytes read as a sequence of choices, so one input decides
/// counts, flags, numbers and strings alike; once the bytes run out every
/// choice is zero, so every input is a complete, well-formed case.
public struct FuzzInput {
    private let bytes: [UInt8]
    private var position = 0

    public init(_ data: UnsafePointer<UInt8>?, _ count: Int) {
        bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    }

    public var isEmpty: Bool { position >= bytes.count }

    public mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    /// A value in 0..<bound.
    public mutating func below(_ bound: Int) -> Int { bound <= 1 ? 0 : Int(byte()) % bound }

    public mutating func bool() -> Bool { byte() & 1 == 1 }

    public mutating func uint32() -> UInt32 { (0..<4).reduce(0) { value, _ in value << 8 | UInt32(byte()) } }

    public mutating func int64() -> Int64 { Int64(bitPattern: (0..<8).reduce(0) { value, _ in value << 8 | UInt64(byte()) }) }

    /// A string of up to `limit` bytes, any bytes but NUL (C strings end at
    /// one), invalid UTF-8 included.
    public mutating func string(limit: Int = 24) -> String {
        String(decoding: bytes(limit: limit), as: UTF8.self)
    }

    /// Up to `limit` bytes, none of them NUL.
    public mutating func bytes(limit: Int) -> [UInt8] {
        (0..<below(limit + 1)).map { _ in byte() }.filter { $0 != 0 }
    }

    /// A string, often one of `likely` (valid names and keywords reach
    /// deeper than random bytes do).
    public mutating func string(oneOf likely: [String], limit: Int = 24) -> String {
        below(4) == 0 ? string(limit: limit) : likely[below(likely.count)]
    }

    /// The rest of the input.
    public mutating func rest() -> [UInt8] {
        defer { position = bytes.count }
        return position < bytes.count ? Array(bytes[position...]) : []
    }
}
