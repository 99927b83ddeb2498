import CLibvirt
import Foundation
import PluginKit
import PluginSupport

/// Which boot of the hypervisor's computer is running, for what must be
/// learnt again after it reboots (whether KVM works there). A local
/// hypervisor runs on this computer: its boot_id says. libvirt tells no
/// boot id of a remote one, so its boot time is estimated from its CPU
/// time counters (virNodeGetCPUStats: the time every CPU spent since boot,
/// over the number of CPUs, is how long it has been up, less what the
/// counters leave out, such as time a VM's vCPUs were stolen). Two
/// estimates are of one boot when the counters did not go back and the
/// boot times agree within a tolerance that grows with the uptime (what
/// the counters leave out adds up); a reboot moves the boot time by at
/// least the uptime the earlier estimate saw. An estimate errs late, never
/// early: a long-running hypervisor is at worst probed again now and then.
struct HypervisorBoot: Codable, Equatable {
    /// virConnectGetHostname: another computer behind the same URI is another boot.
    var hostname: String
    /// A boot id: this computer's, or HOST_TEST_HYPERVISOR_BOOT_ID's.
    var id: String?
    /// The estimate: when it booted (seconds since 1970, this computer's
    /// clock) and how long it had been up when asked.
    var booted: Double?
    var uptime: Double?

    /// A test hook, read here only: the boot id of the hypervisor, which
    /// for the tests' "remote" hypervisor (libvirt over ssh to this same
    /// computer) cannot differ from this computer's otherwise.
    static let testHook = "HOST_TEST_HYPERVISOR_BOOT_ID"

    static func current(of hypervisor: Hypervisor) -> HypervisorBoot {
        var boot = HypervisorBoot(hostname: hostname(of: hypervisor))
        if let injected = ProcessInfo.processInfo.environment[testHook], !injected.isEmpty {
            boot.id = injected
        } else if hypervisor.isLocal {
            boot.id = RuntimeDirectory.bootID
        } else if let uptime = estimatedUptime(of: hypervisor) {
            boot.uptime = uptime
            boot.booted = Date().timeIntervalSince1970 - uptime
        } else {
            // No counters: at least as often as this computer reboots.
            boot.id = "client-" + RuntimeDirectory.bootID
        }
        return boot
    }

    /// Whether `self`, asked now, is the boot `earlier` was.
    func isSame(as earlier: HypervisorBoot) -> Bool {
        guard hostname == earlier.hostname else { return false }
        if id != nil || earlier.id != nil { return id == earlier.id }
        guard let booted, let uptime, let before = earlier.booted, let beforeUptime = earlier.uptime else { return false }
        // A second of slack for the counters' and clocks' grain; the
        // tolerance must stay below the earlier uptime, by which a reboot
        // moves the estimate at least.
        return uptime + 1 >= beforeUptime && abs(booted - before) <= 5 + 0.02 * beforeUptime
    }

    private static func hostname(of hypervisor: Hypervisor) -> String {
        guard let name = virConnectGetHostname(hypervisor.connection) else { return "" }
        defer { free(name) }
        return String(cString: name)
    }

    /// Seconds since the hypervisor booted, from its CPU time counters.
    private static func estimatedUptime(of hypervisor: Hypervisor) -> Double? {
        var info = virNodeInfo()
        guard virNodeGetInfo(hypervisor.connection, &info) == 0, info.cpus > 0 else { return nil }
        let allCPUs = VIR_NODE_CPU_STATS_ALL_CPUS.rawValue
        var count: Int32 = 0
        guard virNodeGetCPUStats(hypervisor.connection, allCPUs, nil, &count, 0) == 0, count > 0 else { return nil }
        var stats = [virNodeCPUStats](repeating: virNodeCPUStats(), count: Int(count))
        guard virNodeGetCPUStats(hypervisor.connection, allCPUs, &stats, &count, 0) == 0 else { return nil }
        var nanoseconds: UInt64 = 0
        for stat in stats.prefix(Int(count)) {
            let field = withUnsafeBytes(of: stat.field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            // Times, not the utilization percentage some drivers add.
            if [VIR_NODE_CPU_STATS_KERNEL, VIR_NODE_CPU_STATS_USER, VIR_NODE_CPU_STATS_IDLE, VIR_NODE_CPU_STATS_IOWAIT].contains(field) {
                nanoseconds += stat.value
            }
        }
        guard nanoseconds > 0 else { return nil }
        return Double(nanoseconds) / 1e9 / Double(info.cpus)
    }
}
