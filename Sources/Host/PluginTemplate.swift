import ArgumentParser
import Foundation
import HostCore

/// `host plugin-template c NAME`: a starting plugin in ./NAME/ that builds
/// warning-free and loads as it is, and the command that builds it against
/// the headers scripts/setup installed beside host (PREFIX/include/host),
/// into the user's own plugin directory.
struct PluginTemplate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin-template",
        abstract: "Write a starting plugin and print the command that builds it (docs/plugins.md is the guide).")

    enum Language: String, ExpressibleByArgument, CaseIterable { case c, swift }

    @Argument(help: "the language: c (swift plugins build inside host's own package: see docs/plugins.md)") var language: Language
    @Argument(help: "the plugin's name: lower-case letters, digits and _, starting with a letter") var name: String

    func validate() throws {
        guard let first = name.first, first.isASCII, first.isLowercase,
              name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
            throw ValidationError("\(name.debugDescription) is not a plugin name: lower-case letters, digits and _, starting with a letter, like acme")
        }
    }

    func run() throws {
        guard language == .c else {
            throw HostError.usage("a Swift plugin must be built by host's own Swift toolchain against its PluginKit, inside host's package (Package.swift, as Examples/swift-plugin); plugin-template writes C plugins only: host plugin-template c \(name)")
        }
        let executable = URL(fileURLWithPath: Bundle.main.executablePath ?? "/proc/self/exe").resolvingSymlinksInPath()
        let headers = executable.deletingLastPathComponent().appendingPathComponent("../include/host").standardizedFileURL
        guard FileManager.default.fileExists(atPath: headers.appendingPathComponent("host_plugin.h").path) else {
            throw HostError(.environment, "the plugin headers are not installed beside this host (\(headers.path)/host_plugin.h); scripts/setup installs them in PREFIX/include/host")
        }
        let directory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(name)
        guard !FileManager.default.fileExists(atPath: directory.path) else {
            throw HostError.usage("\(directory.path) exists already; remove it or choose another name")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        let source = directory.appendingPathComponent("\(name).c")
        try Self.source(name).write(to: source, atomically: true, encoding: .utf8)
        let plugins = PluginRegistry.userDirectory()
        let build = ["mkdir -p \(plugins.path) &&", "cc -shared -fPIC -Wall -Wextra -Werror", "-I \(headers.path)",
                     "-o \(plugins.path)/\(name).so \(name)/\(name).c"].joined(separator: " ")
        print("""
            wrote \(name)/\(name).c: a plugin with one step, \(name).hello
            build it into your own plugin directory:
              \(build)
            then:
              host list-plugins | grep -A3 \(name).hello
              host os.busybox + \(name).hello --name=you + exec 'cat hello.txt'
            docs/plugins.md (in host's source) is the guide to the rest of the ABI
            """)
    }

    /// The C source: a step with a positional string and a named-only int,
    /// which runs a command, logs, and keeps the machine.
    static func source(_ name: String) -> String {
        """
        /* \(name): a host plugin. Build: see `host plugin-template c \(name)`;
         * the ABI is host_plugin.h, the guide docs/plugins.md. */
        #include <stdio.h>
        #include <string.h>
        #include "host_plugin.h"

        /* The entry's arguments after the first three are the declared
         * parameters, in order, with the C types host_param_type lists. */
        static host_status hello(host_call *call, host_machine *machine, host_machine **result,
                                 const char *who, int64_t times) {
            if (strchr(who, '\\'') != NULL) {
                call->services->set_error(call, "--name must not contain a single quote");
                return HOST_USAGE_ERROR; /* the user's value: exit 64 */
            }
            char command[512];
            snprintf(command, sizeof command, "for i in $(seq %lld); do echo 'Hello, %s!'; done > hello.txt",
                     (long long)times, who);
            host_exec_result out = {.struct_size = sizeof out};
            if (call->services->exec(call, machine, command, 0, &out) != HOST_OK) return HOST_ERROR;
            if (out.exit_status != 0) {
                call->services->set_error(call, "could not write hello.txt");
                return HOST_ERROR;
            }
            call->services->log(call, HOST_LOG_INFO, "wrote hello.txt");
            *result = machine; /* keep the change: host caches the result */
            return HOST_OK;
        }

        static const host_param who_param = {
            .struct_size = sizeof(host_param), .name = "name", .type = HOST_PARAM_STRING,
            .default_value = "world", .help = "who to greet"};
        static const host_param times_param = {
            .struct_size = sizeof(host_param), .name = "times", .type = HOST_PARAM_INT, .default_value = "1",
            .help = "how many lines", .flags = HOST_PARAM_NAMED_ONLY | HOST_PARAM_BOUNDED, .minimum = 1, .maximum = 100};
        static const host_param *const hello_params[] = {&who_param, &times_param};

        static const host_step hello_step = {
            .struct_size = sizeof(host_step),
            .name = "\(name).hello",
            .summary = "Write a greeting into hello.txt in the machine",
            .param_count = 2,
            .params = hello_params,
            .entry = (host_step_entry)hello,
        };
        static const host_step *const steps[] = {&hello_step};

        /* abi_minor 3: the lowest that has HOST_PARAM_NAMED_ONLY, BOUNDED and
         * HOST_USAGE_ERROR (the list is at the top of host_plugin.h). */
        static const host_plugin plugin = {
            .struct_size = sizeof(host_plugin), .abi_major = HOST_ABI_MAJOR, .abi_minor = 3,
            .name = "\(name)", .version = "0.1.0", .step_count = 1, .steps = steps,
        };

        const host_plugin *host_plugin_entry_v1(void) { return &plugin; }

        """
    }
}
