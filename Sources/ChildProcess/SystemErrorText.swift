import Foundation

/// What the system refused, in host's words: Foundation's file errors print
/// as `Error Domain=NSCocoaErrorDomain Code=512 "(null)"` or "There isn't
/// enough space", which name neither the file nor the cause. This names the
/// operation and path, the errno's meaning, and what would help. Shared by
/// host and PluginKit, so a Swift plugin's own file errors read the same.
public enum SystemErrorText {
    /// "could not remove /x: Device or resource busy (…what to do)", or the
    /// error's own description when it is not a system error.
    public static func describe(_ error: any Error) -> String {
        let ns = error as NSError
        guard let code = errno(of: error) else { return String(describing: error) }
        guard ns.domain == NSCocoaErrorDomain else { return meaning(of: code) }
        let path = ns.userInfo[NSFilePathErrorKey] as? String
        let destination = ns.userInfo["NSDestinationFilePath"] as? String
        let variant = (ns.userInfo["NSUserStringVariant"] as? [String])?.first?.lowercased()
        let action: String
        switch (variant, path, destination) {
        case let (verb?, source?, target?): action = "\(verb) \(source) to \(target)"
        case let (verb?, source?, nil): action = "\(verb) \(source)"
        case let (nil, source?, _): action = (CocoaError.Code(rawValue: ns.code).isReadError ? "read " : "write ") + source
        default: action = "change a file"
        }
        // A busy file is the one moved or removed; a full or read-only disk is where it was going.
        let culprit = code == EBUSY ? path : destination ?? path
        return "could not \(action): \(meaning(of: code, path: culprit))"
    }

    /// "Read-only file system (…what to do)": errno `code`'s meaning, and
    /// what would help when the call was about `path`.
    public static func meaning(of code: Int32, path: String? = nil) -> String {
        String(cString: strerror(code)) + (advice(code, path: path).map { " (\($0))" } ?? "")
    }

    /// The errno behind `error`: a POSIX error's own, or the one Foundation
    /// wrapped in a Cocoa error.
    public static func errno(of error: any Error) -> Int32? {
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return Int32(ns.code) }
        // A Swift error (POSIXError) on Linux, which `as? NSError` does not bridge.
        if ns.domain == NSCocoaErrorDomain, let underlying = (ns.userInfo[NSUnderlyingErrorKey] as? any Error).map({ $0 as NSError }),
           underlying.domain == NSPOSIXErrorDomain {
            return Int32(underlying.code)
        }
        return nil
    }

    /// Whether the error says the file system is full, read-only or not
    /// ours: the computer's state, not the cache's.
    public static func isEnvironment(_ error: any Error) -> Bool {
        errno(of: error).map { [ENOSPC, EDQUOT, EROFS, EACCES, EPERM, EBUSY, EMFILE, ENFILE].contains($0) } ?? false
    }

    /// What would help, for the errors a user can do something about.
    static func advice(_ code: Int32, path: String? = nil) -> String? {
        let place = path.map { " holding \($0)" } ?? ""
        switch code {
        case ENOSPC, EDQUOT:
            return "the disk\(place) is full: free space (`host cleanup machines expired`, `host cleanup downloads`) or set HOST_CACHE_DIR to a disk with room"
        case EROFS:
            return "the file system\(place) is mounted read-only: remount it read-write, or set HOST_CACHE_DIR to a writable folder"
        case EACCES, EPERM:
            return "check the owner and mode of \(path ?? "the file") and its folders: host's cache must be yours"
        case EBUSY:
            return "it is a mount point or in use: unmount it (`umount \(path ?? "PATH")`) or end what uses it, then try again"
        case EMFILE, ENFILE:
            return "too many open files: raise the limit (`ulimit -n`) and try again"
        case EIO:
            return "the disk reported a fault: see `dmesg`"
        default:
            return nil
        }
    }
}

private extension CocoaError.Code {
    /// Foundation numbers its read errors 256-511 and its write errors from 512.
    var isReadError: Bool { (256..<512).contains(rawValue) }
}
