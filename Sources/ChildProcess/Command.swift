import CChildProcess
import Foundation

/// The one way host and its plugins start a program: an argument vector, an
/// environment, where its input comes from and its output goes (nowhere, a
/// file, the terminal, or a pipe host drains while it runs, so a full pipe
/// never stalls it), an optional time limit, and, for programs that must
/// not outlive host (QEMU, curl), a session of its own and death with host
/// even by SIGKILL (PR_SET_PDEATHSIG). The child gets default signal
/// dispositions, an empty signal mask and no descriptor of host's but its
/// three standard ones.
///
/// Programs are started on the calling thread, which for host is always
/// its main thread: PR_SET_PDEATHSIG fires when the forking *thread* ends.
public struct Command: Sendable {
    public enum Input: Sendable {
        case null, terminal, file(String)
        /// A pipe host writes to (RunningChild.input).
        case pipe
    }

    public enum Output: Sendable {
        case null, terminal
        /// Written to this file, created or truncated.
        case file(String)
        /// Given to the caller as it comes (run's handler, or RunningChild.output).
        case pipe
    }

    public var executable: String
    public var arguments: [String]
    /// nil: host's own.
    public var environment: [String: String]?
    public var input: Input = .null
    public var output: Output = .null
    /// nil: where standard output goes.
    public var error: Output?
    public var ownSession = false
    public var diesWithHost = false
    /// For `run`: the child is killed once this many seconds have passed.
    public var timeLimit: TimeInterval?
    /// Where it starts; nil: host's working directory.
    public var directory: String?

    public init(_ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
    }

    /// How a program ended.
    public enum Ending: Equatable, Sendable {
        case exited(Int32)
        case killed(signal: Int32)
        case timedOut

        /// The status a shell would report: 128+N when killed by signal N.
        public var status: Int32 {
            switch self {
            case let .exited(status): status
            case let .killed(signal): 128 + signal
            case .timedOut: 128 + SIGKILL
            }
        }
    }

    /// `name` as a path: itself when absolute, else looked for on PATH and in
    /// the sbin directories; missing, an error that names the Debian package.
    public static func find(_ name: String, package: String) throws -> String {
        if name.hasPrefix("/") {
            guard FileManager.default.isExecutableFile(atPath: name) else { throw Missing(name: name, package: package) }
            return name
        }
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        for directory in directories where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        throw Missing(name: name, package: package)
    }

    public struct Missing: Error, CustomStringConvertible {
        public let name: String
        public let package: String
        public var description: String { "\(name) is not installed; install the Debian package \(package) (apt-get install \(package))" }
    }

    public struct Failed: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs the program to its end. Output sent to `.pipe` reaches `handler`
    /// chunk by chunk (stream 1 or 2) while both pipes are drained together.
    @discardableResult
    public func run(_ handler: (Int32, [UInt8]) -> Void = { _, _ in }) throws -> Ending {
        let child = try start()
        let deadline = timeLimit.map { Date().addingTimeInterval($0) }
        var open = [(child.output, Int32(1)), (child.errorOutput, Int32(2))].compactMap { fd, stream in fd.map { ($0, stream) } }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty {
            var polls = open.map { pollfd(fd: $0.0, events: Int16(POLLIN), revents: 0) }
            let wait = deadline.map { Int32(max(0, min(Double(Int32.max), $0.timeIntervalSinceNow * 1000))) } ?? -1
            let ready = poll(&polls, nfds_t(polls.count), wait)
            if ready == 0 || deadline.map({ Date() > $0 }) == true { // also a child that never stops writing
                child.kill()
                _ = child.wait()
                return .timedOut
            }
            if ready < 0 { if errno == EINTR { continue }; break }
            for (index, entry) in polls.enumerated().reversed() where entry.revents != 0 {
                let count = read(entry.fd, &buffer, buffer.count)
                if count > 0 {
                    handler(open[index].1, Array(buffer.prefix(count)))
                } else if count == 0 || errno != EINTR {
                    open.remove(at: index)
                }
            }
        }
        if let deadline {
            while child.isRunning {
                if Date() > deadline {
                    child.kill()
                    _ = child.wait()
                    return .timedOut
                }
                usleep(10_000)
            }
        }
        return child.wait()
    }

    /// Runs the program to its end, its standard output and error together,
    /// handing each line to `line` as it comes (for progress); also the
    /// output's last `tail` bytes, for a message should it fail.
    public func runLines(tail keep: Int = 1500, _ line: (String) -> Void) throws -> (ending: Ending, tail: String) {
        var command = self
        command.output = .pipe
        command.error = nil
        var pending: [UInt8] = [], tail: [UInt8] = []
        let ending = try command.run { _, bytes in
            tail = Array((tail + bytes).suffix(keep))
            pending += bytes
            while let newline = pending.firstIndex(of: 10) {
                line(String(decoding: pending[..<newline], as: UTF8.self))
                pending.removeSubrange(...newline)
            }
        }
        if !pending.isEmpty { line(String(decoding: pending, as: UTF8.self)) }
        return (ending, String(decoding: tail, as: UTF8.self))
    }

    /// Runs the program to its end and returns its standard output and error
    /// together, however it ended; they go through a file, so a program that
    /// leaves a daemon holding them (`ssh -f`) does not hold host up.
    public func capture() throws -> (ending: Ending, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("host-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        var command = self
        command.output = .file(log.path)
        command.error = nil
        let ending = try command.run()
        return (ending, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    /// Starts the program and returns at once.
    public func start() throws -> RunningChild {
        var close: [Int32] = [] // host's ends to close once the child has its own
        defer { close.forEach { _ = Glibc.close($0) } }
        func open(_ path: String, _ flags: Int32) throws -> Int32 {
            let fd = Glibc.open(path, flags | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw Failed(description: "cannot open \(path) for \(executable): \(String(cString: strerror(errno)))") }
            close.append(fd)
            return fd
        }
        func pipe() throws -> (read: Int32, write: Int32) {
            var ends: [Int32] = [0, 0]
            guard cchild_pipe(&ends) == 0 else { throw Failed(description: "pipe: \(String(cString: strerror(errno)))") }
            return (ends[0], ends[1])
        }
        var inputEnd: Int32?, outputEnd: Int32?, errorEnd: Int32?
        let stdin: Int32
        switch input {
        case .null: stdin = try open("/dev/null", O_RDONLY)
        case .terminal: stdin = CCHILD_INHERIT
        case let .file(path): stdin = try open(path, O_RDONLY)
        case .pipe:
            let ends = try pipe()
            stdin = ends.read
            close.append(ends.read)
            inputEnd = ends.write
        }
        func target(_ output: Output, _ end: inout Int32?) throws -> Int32 {
            switch output {
            case .null: return try open("/dev/null", O_WRONLY)
            case .terminal: return CCHILD_INHERIT
            case let .file(path): return try open(path, O_WRONLY | O_CREAT | O_TRUNC)
            case .pipe:
                let ends = try pipe()
                close.append(ends.write)
                end = ends.read
                return ends.write
            }
        }
        let stdout = try target(output, &outputEnd)
        let stderr = try error.map { try target($0, &errorEnd) } ?? (stdout == CCHILD_INHERIT ? CCHILD_INHERIT : stdout)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        // Every pointer the options hold lives for the whole spawn call.
        let directory = self.directory.map { strdup($0) } ?? nil
        defer { free(directory) }
        let pid = executable.withCString { path in
            argv.withUnsafeBufferPointer { argvBuffer in
                envp.withUnsafeBufferPointer { envpBuffer in
                    var options = cchild_options(path: path, argv: argvBuffer.baseAddress, envp: envpBuffer.baseAddress,
                                                 stdin_fd: stdin, stdout_fd: stdout, stderr_fd: stderr, new_session: ownSession ? 1 : 0,
                                                 die_with_parent: diesWithHost ? 1 : 0, keep_signal_mask: 0, directory: directory)
                    return cchild_spawn(&options)
                }
            }
        }
        guard pid > 0 else {
            let reason = String(cString: strerror(errno))
            [inputEnd, outputEnd, errorEnd].compactMap { $0 }.forEach { _ = Glibc.close($0) }
            throw Failed(description: "cannot run \(executable): \(reason)")
        }
        return RunningChild(pid: pid, executable: executable, input: inputEnd, output: outputEnd, errorOutput: errorEnd)
    }
}

/// A started program. Its pipe ends (those asked for) belong to it: they
/// close when it is waited for.
public final class RunningChild: @unchecked Sendable {
    public let pid: pid_t
    public let executable: String
    /// Where to write its standard input (Input.pipe).
    public private(set) var input: Int32?
    /// Where to read its standard output and error (Output.pipe).
    public let output: Int32?
    public let errorOutput: Int32?
    private var ending: Command.Ending?

    init(pid: pid_t, executable: String, input: Int32?, output: Int32?, errorOutput: Int32?) {
        self.pid = pid
        self.executable = executable
        self.input = input
        self.output = output
        self.errorOutput = errorOutput
    }

    /// Closes host's end of the child's standard input: it reads end of file.
    public func closeInput() {
        if let input { close(input) }
        input = nil
    }

    /// Whether it has been reaped: from then on its pid, and the process
    /// group it led, may be another program's (pid_max may be 32768, and a
    /// busy machine goes round it in minutes), so nothing may signal them.
    public var isReaped: Bool { ending != nil }

    /// False once it has ended (and been reaped).
    public var isRunning: Bool {
        guard ending == nil else { return false }
        var status: Int32 = 0
        let reaped = waitpid(pid, &status, WNOHANG)
        if reaped == pid { ending = Self.ending(status) }
        return reaped == 0
    }

    /// Waits for it to end; idempotent.
    @discardableResult
    public func wait() -> Command.Ending {
        if let ending { return ending }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { ending = .exited(-1); return .exited(-1) }
        }
        ending = Self.ending(status)
        return Self.ending(status)
    }

    public func kill(_ signal: Int32 = SIGKILL) {
        if ending == nil { Glibc.kill(pid, signal) }
    }

    /// SIGTERM, up to `grace` seconds to go, then SIGKILL; waits.
    public func stop(grace: TimeInterval = 2) {
        kill(SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while isRunning && Date() < deadline { usleep(10_000) }
        kill(SIGKILL)
        wait()
    }

    // WIFEXITED and friends are macros Swift cannot import.
    private static func ending(_ status: Int32) -> Command.Ending {
        status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .killed(signal: status & 0x7f)
    }

    deinit {
        [input, output, errorOutput].compactMap { $0 }.forEach { close($0) }
    }
}
