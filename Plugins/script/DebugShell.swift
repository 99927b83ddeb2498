import Foundation
import PluginKit

/// The one shell script.debug keeps in the machine for a whole script, so
/// that the working directory, variables and functions carry from unit to
/// unit and are in every checkpoint with the machine's memory. It reads
/// commands from a FIFO it holds open for writing too (so it never sees
/// the end of its input); each unit is a file it sources with `.`, its
/// output goes to a file the step streams, and its status to another.
/// The directory is fixed, so a machine restored from a checkpoint finds
/// its shell where it left it.
struct DebugShell {
    static let directory = "/tmp/.host-script-debug"
    let call: StepCall
    var machine: MachineHandle

    /// Starts the shell (`sh` or `bash`) in the home directory.
    func start(_ shell: String) throws {
        let d = Self.directory
        try call.run("""
            rm -rf \(d) && mkdir -m 0700 \(d) && mkfifo \(d)/in || exit 1
            cd 2>/dev/null || cd /
            ($(command -v setsid) \(shell) -s <>\(d)/in >\(d)/shell.out 2>&1; echo $? >\(d)/shell.status) </dev/null >/dev/null 2>&1 &
            """, on: machine)
    }

    /// Runs unit `number` in the shell, streaming its output, and returns
    /// its status, or nil with why when the shell itself ended (`exit` in
    /// the script, or `set -e`).
    func run(_ unit: ScriptUnit, number: Int) throws -> (status: Int32, ended: String?) {
        let d = Self.directory
        let file = "\(d)/u.\(number)"
        let quoted = "'" + unit.text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
        // Polled rather than followed with `tail -f`, which may stop before
        // the last bytes; every check for the end comes before the last read.
        let result = try call.exec("""
            printf %s \(quoted) >\(file) || exit 254
            echo ". \(file) </dev/null >\(d)/o.\(number) 2>\(d)/e.\(number); echo \\$? >\(d)/s.tmp; pwd >\(d)/cwd; mv \(d)/s.tmp \(d)/s.\(number)" >\(d)/in
            o=0 e=0
            show() { # FILE SHOWN: prints what FILE holds past SHOWN bytes; sets n to its size
              n=$(cat $1 2>/dev/null | wc -c)
              [ "$n" -gt "$2" ] && tail -c +$(($2 + 1)) $1 | head -c $((n - $2))
              return 0
            }
            while :; do
              if [ -e \(d)/s.\(number) ]; then end=unit; elif [ -e \(d)/shell.status ]; then end=shell; else end=; fi
              show \(d)/o.\(number) $o; o=$n
              show \(d)/e.\(number) $e >&2; e=$n
              [ -n "$end" ] && break
              sleep 0.1 2>/dev/null || sleep 1
            done
            rm -f \(file) \(d)/o.\(number) \(d)/e.\(number)
            [ $end = unit ] && exit $(cat \(d)/s.\(number))
            exit 255
            """, on: machine, stream: true)
        guard result.status == 255 else { return (result.status, nil) }
        let ended = try call.exec("cat \(d)/s.\(number) 2>/dev/null || { echo shell; cat \(d)/shell.status; }", on: machine).out
        let words = ended.split(whereSeparator: \.isWhitespace)
        if words.first == "shell" {
            let status = Int32(words.dropFirst().first ?? "") ?? 255
            return (status, "the script's shell exited with status \(status) (`exit`, or `set -e` after a failed command), so nothing after it can run")
        }
        return (255, nil)
    }

    /// The shell's working directory after the last unit.
    func workingDirectory() -> String? {
        (try? call.exec("cat \(Self.directory)/cwd", on: machine))?.out.trimmingCharacters(in: .newlines)
    }

    /// Ends the shell and removes its files, so the machine the step
    /// returns holds nothing of it.
    func stop() throws {
        let d = Self.directory
        try call.run("""
            for p in $(ls /proc | grep '^[0-9]*$'); do
              [ "$(readlink /proc/$p/fd/0 2>/dev/null)" = \(d)/in ] && kill -9 $p
            done
            rm -rf \(d)
            """, on: machine)
    }
}
