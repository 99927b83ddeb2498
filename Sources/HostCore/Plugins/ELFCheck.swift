import Foundation

/// Checks a plugin file before dlopen runs any of its code: a 64-bit
/// little-endian ELF shared object for this machine, not cut short.
enum ELFCheck {
    #if arch(x86_64)
    static let machine: UInt16 = 62, machineName = "x86-64"
    #elseif arch(arm64)
    static let machine: UInt16 = 183, machineName = "aarch64"
    #endif

    /// nil when the file looks loadable, else why not.
    static func problem(with path: String) -> String? {
        // Only the header and program headers are read: this runs for every
        // plugin on every start.
        guard let handle = FileHandle(forReadingAtPath: path),
              let size = try? handle.seekToEnd(), (try? handle.seek(toOffset: 0)) != nil,
              var data = try? handle.read(upToCount: 64) ?? Data()
        else { return "cannot be read" }
        defer { try? handle.close() }
        guard data.count >= 4, data.prefix(4) == Data([0x7f, 0x45, 0x4c, 0x46]) else {
            return "is not an ELF shared object (no ELF magic); plugins are .so files built against host_plugin.h"
        }
        guard data.count >= 64 else { return "is a truncated ELF file (\(size) bytes, shorter than its header)" }
        guard data[4] == 2 else { return "is a 32-bit ELF file; host needs a 64-bit plugin" }
        guard data[5] == 1 else { return "is a big-endian ELF file; host needs a little-endian plugin" }
        func u16(_ at: Int) -> UInt16 { UInt16(data[at]) | UInt16(data[at + 1]) << 8 }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(data[at + $1]) << (8 * UInt64($1)) } }
        guard u16(16) == 3 else { return "is an ELF file but not a shared object (type \(u16(16))); build it with -shared" }
        guard u16(18) == machine else { return "is built for ELF machine \(u16(18)); this host needs \(machineName)" }
        // Every segment and the section table must lie inside the file: a cut
        // file would otherwise crash the loader or map garbage.
        let phoff = u64(32), phentsize = UInt64(u16(54)), phnum = UInt64(u16(56))
        let shoff = u64(40), shentsize = UInt64(u16(58)), shnum = UInt64(u16(60))
        guard phentsize >= 56, phoff + phentsize * phnum <= size else {
            return "is a truncated ELF file: its program headers end past the file's \(size) bytes"
        }
        guard (try? handle.seek(toOffset: phoff)) != nil,
              let table = try? handle.read(upToCount: Int(phentsize * phnum)) else { return "cannot be read" }
        data = table // u16/u64 now read the program header table
        for index in 0..<phnum {
            let header = Int(index * phentsize)
            let offset = u64(header + 8), fileSize = u64(header + 32)
            if offset + fileSize > size {
                return "is a truncated ELF file: segment \(index) ends at byte \(offset + fileSize) of a \(size)-byte file"
            }
        }
        guard shoff + shentsize * shnum <= size else { return "is a truncated ELF file: its section table ends past the file's \(size) bytes" }
        return nil
    }
}
