import CLibvirt
import Crypto
import Foundation
import PluginKit

/// A volume of host's in the pool, as the cache entry records it: its sizes
/// when it was written (checked before reuse, with no hashing of GiBs on
/// the hypervisor) and, for what host uploaded, the SHA-256 of the bytes sent.
struct Volume: Codable, Equatable {
    var name: String
    /// What the guest sees (a qcow2 image's virtual size).
    var capacity: UInt64
    /// The file's own size: a truncated or half-written file differs. (Not
    /// its allocation, which moves by a block whenever libvirt labels the
    /// file for a domain with extended attributes.)
    var physical: UInt64
    var sha256: String?
}

/// host's directory pool on the hypervisor (`--pool`, default "host"),
/// made on first use: the machines' disks, kernels and saved states, all
/// written through libvirt's API, so it works the same for a remote one.
struct StoragePool {
    let hypervisor: Hypervisor
    let pool: virStoragePoolPtr
    let name: String
    /// Its directory on the hypervisor.
    let path: String

    /// The pool `name`, defined (persistent, started at the daemon's start)
    /// in a directory of its own when it does not exist yet.
    static func open(_ name: String, on hypervisor: Hypervisor) throws -> StoragePool {
        var pool = virStoragePoolLookupByName(hypervisor.connection, name)
        if pool == nil {
            let directory = defaultDirectory(for: hypervisor.uri, name: name)
            let xml = "<pool type='dir'><name>\(escapedXML(name))</name><target><path>\(escapedXML(directory))</path></target></pool>"
            guard let defined = virStoragePoolDefineXML(hypervisor.connection, xml, 0) else {
                throw hypervisor.error("defining the storage pool \(name) in \(directory) failed")
            }
            _ = virStoragePoolBuild(defined, 0)
            _ = virStoragePoolSetAutostart(defined, 1)
            pool = defined
        }
        guard let pool else { throw hypervisor.error("no storage pool \(name)") }
        return try started(pool, name: name, on: hypervisor)
    }

    /// The pool `name` when it is defined there, else nil: for a sweep,
    /// which looks at what is there and makes nothing.
    static func existing(_ name: String, on hypervisor: Hypervisor) throws -> StoragePool? {
        guard let pool = virStoragePoolLookupByName(hypervisor.connection, name) else {
            if virGetLastErrorCode() == Int32(VIR_ERR_NO_STORAGE_POOL.rawValue) { return nil }
            throw hypervisor.error("looking up the storage pool \(name) failed")
        }
        return try started(pool, name: name, on: hypervisor)
    }

    /// The pool, started when it is not, and its directory.
    private static func started(_ pool: virStoragePoolPtr, name: String, on hypervisor: Hypervisor) throws -> StoragePool {
        if virStoragePoolIsActive(pool) != 1 && virStoragePoolCreate(pool, 0) != 0 {
            throw hypervisor.error("starting the storage pool \(name) failed")
        }
        guard let xml = virStoragePoolGetXMLDesc(pool, 0) else { throw hypervisor.error("reading the storage pool \(name) failed") }
        defer { free(xml) }
        let description = String(cString: xml)
        guard description.contains("type='dir'"), let start = description.range(of: "<path>"),
              let end = description.range(of: "</path>", range: start.upperBound..<description.endIndex) else {
            throw StepError("the storage pool \(name) on \(hypervisor.uri) is not a directory pool; name another with --pool")
        }
        return StoragePool(hypervisor: hypervisor, pool: pool, name: name,
                           path: String(description[start.upperBound..<end.lowerBound]))
    }

    /// Beside libvirt's own images: /var/lib/libvirt/host for the system
    /// daemon, ~/.local/share/libvirt/host for a user's session daemon.
    private static func defaultDirectory(for uri: String, name: String) -> String {
        if URLComponents(string: uri)?.path == "/session" {
            let data = ProcessInfo.processInfo.environment["XDG_DATA_HOME"] ?? NSHomeDirectory() + "/.local/share"
            return "\(data)/libvirt/\(name)"
        }
        return "/var/lib/libvirt/\(name)"
    }

    /// Where the volume `name` is (or will be) on the hypervisor.
    func path(of name: String) -> String { "\(path)/\(name)" }

    private func lookup(_ name: String) -> virStorageVolPtr? { virStorageVolLookupByName(pool, name) }

    /// The volume as it is now; nil when it is missing.
    func volume(_ name: String) -> Volume? {
        guard let volume = lookup(name) else { return nil }
        defer { virStorageVolFree(volume) }
        var info = virStorageVolInfo()
        guard virStorageVolGetInfoFlags(volume, &info, UInt32(VIR_STORAGE_VOL_GET_PHYSICAL.rawValue)) == 0 else { return nil }
        return Volume(name: name, capacity: info.capacity, physical: info.allocation) // the flag puts it there
    }

    /// Makes the volume `name`; `backing`, a volume's path, makes it a qcow2 overlay on that.
    func create(_ name: String, format: String, capacity: UInt64, backing: String? = nil) throws {
        var xml = "<volume><name>\(escapedXML(name))</name><capacity>\(capacity)</capacity><allocation>0</allocation>"
            + "<target><format type='\(format)'/></target>"
        if let backing { xml += "<backingStore><path>\(escapedXML(backing))</path><format type='qcow2'/></backingStore>" }
        guard let volume = virStorageVolCreateXML(pool, xml + "</volume>", 0) else {
            throw hypervisor.error("creating the volume \(name) in the pool \(self.name) failed")
        }
        virStorageVolFree(volume)
    }

    /// Sends the host file `local` into a new volume `name`, hashing what it sends.
    func upload(_ local: String, as name: String) throws -> Volume {
        guard let file = FileHandle(forReadingAtPath: local) else { throw StepError("cannot read \(local)") }
        defer { try? file.close() }
        let size = UInt64((try FileManager.default.attributesOfItem(atPath: local)[.size] as? NSNumber)?.int64Value ?? 0)
        try create(name, format: "raw", capacity: size)
        guard let volume = lookup(name), let stream = virStreamNew(hypervisor.connection, 0) else {
            throw hypervisor.error("opening the new volume \(name) failed")
        }
        defer {
            virStreamFree(stream)
            virStorageVolFree(volume)
        }
        guard virStorageVolUpload(volume, stream, 0, size, 0) == 0 else { throw hypervisor.error("uploading \(local) failed") }
        var hash = SHA256()
        while true {
            let chunk = file.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            hash.update(data: chunk)
            var offset = 0
            while offset < chunk.count {
                let sent = chunk[offset...].withUnsafeBytes {
                    virStreamSend(stream, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count)
                }
                guard sent > 0 else {
                    virStreamAbort(stream)
                    throw hypervisor.error("uploading \(local) failed")
                }
                offset += Int(sent)
            }
        }
        guard virStreamFinish(stream) == 0 else { throw hypervisor.error("uploading \(local) failed") }
        refresh() // libvirt tells a qcow2 file's size only after probing it
        guard var uploaded = self.volume(name) else { throw hypervisor.error("the uploaded volume \(name) is missing") }
        uploaded.sha256 = hash.finalize().map { String(format: "%02x", $0) }.joined()
        return uploaded
    }

    /// Makes the pool notice files the daemon wrote itself (a saved state).
    func refresh() { _ = virStoragePoolRefresh(pool, 0) }

    /// The names of every volume in the pool, host's or not.
    func volumeNames() -> [String] {
        var volumes: UnsafeMutablePointer<virStorageVolPtr?>?
        let count = virStoragePoolListAllVolumes(pool, &volumes, 0)
        guard count > 0, let volumes else { return [] }
        defer { free(volumes) }
        return (0..<Int(count)).compactMap { index in
            guard let volume = volumes[index] else { return nil }
            defer { virStorageVolFree(volume) }
            return virStorageVolGetName(volume).map { String(cString: $0) }
        }
    }

    func delete(_ name: String) {
        guard let volume = lookup(name) else { return }
        _ = virStorageVolDelete(volume, 0)
        virStorageVolFree(volume)
    }
}

/// `text` for an XML attribute or element.
func escapedXML(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "'", with: "&apos;")
        .replacingOccurrences(of: "\"", with: "&quot;")
}
