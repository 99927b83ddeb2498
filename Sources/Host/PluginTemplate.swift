import ArgumentParser
import Foundation
import HostCore
import HostModel

/// `host plugin-template c|swift NAME`: a starting plugin in ./NAME/ that
/// builds warning-free and loads as it is, and the command that builds it
/// against what scripts/setup installed beside host (PREFIX/include/host,
/// PREFIX/share/host/plugin-kit), into the user's own plugin directory.
struct PluginTemplate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin-template",
        abstract: "Write a starting plugin and print the command that builds it, and where the plugin guide is.")

    enum Language: String, ExpressibleByArgument, CaseIterable { case c, swift }

    @Argument(help: "c, or swift (built with host's own Swift toolchain against the PluginKit scripts/setup installs)") var language: Language
    @Argument(help: "the plugin's name: lower-case letters, digits and _, starting with a letter") var name: String

    func validate() throws {
        guard let first = name.first, first.isASCII, first.isLowercase,
              name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
            throw ValidationError("\(name.debugDescription) is not a plugin name: lower-case letters, digits and _, starting with a letter, like acme")
        }
    }

    func run() throws {
        let executable = URL(fileURLWithPath: Bundle.main.executablePath ?? "/proc/self/exe").resolvingSymlinksInPath()
        let prefix = executable.deletingLastPathComponent().deletingLastPathComponent()
        // What scripts/setup installs beside host for plugins built elsewhere.
        let needed = language == .c ? prefix.appendingPathComponent("include/host") : prefix.appendingPathComponent("share/host/plugin-kit")
        guard FileManager.default.fileExists(atPath: needed.appendingPathComponent(language == .c ? "host_plugin.h" : "Package.swift").path) else {
            throw HostError(.environment, "what a \(language == .c ? "C" : "Swift") plugin builds against is not installed beside this host (\(needed.path)); scripts/setup installs it under PREFIX")
        }
        let directory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(name)
        guard !FileManager.default.fileExists(atPath: directory.path) else {
            throw HostError.usage("\(directory.path) exists already; remove it or choose another name")
        }
        let plugins = PluginIndex.userDirectory().path
        let docs = HelpText.pluginDocs()
        let build: String
        let wrote: String
        switch language {
        case .c:
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
            try Self.cSource(name).write(to: directory.appendingPathComponent("\(name).c"), atomically: true, encoding: .utf8)
            wrote = "\(name)/\(name).c"
            build = "mkdir -p \(plugins) && cc -shared -fPIC -Wall -Wextra -Werror -I \(needed.path) -o \(plugins)/\(name).so \(name)/\(name).c"
        case .swift:
            let sources = directory.appendingPathComponent("Sources/\(name)")
            try FileManager.default.createDirectory(at: sources, withIntermediateDirectories: true)
            try Self.swiftPackage(name, kit: needed.path).write(to: directory.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
            try Self.swiftSource(name).write(to: sources.appendingPathComponent("\(name).swift"), atomically: true, encoding: .utf8)
            wrote = "\(name)/Package.swift and \(name)/Sources/\(name)/\(name).swift"
            // The same toolchain as host's: Swift has no stable ABI on Linux.
            build = "swift build -c release --package-path \(name) && mkdir -p \(plugins) && install -m 0644 \(name)/.build/release/lib\(name).so \(plugins)/\(name).so"
        }
        print("""
            wrote \(wrote): a plugin with one step, \(name).hello
            build it into your own plugin directory:
              \(build)
            then:
              host list-plugins | grep -A3 \(name).hello
              host os.busybox + \(name).hello --name=you + exec 'cat hello.txt'
            the guide to the rest of the ABI: \(docs.guide)
            examples: \(docs.examples)
            """)
    }

    static func swiftPackage(_ name: String, kit: String) -> String {
        """
        // swift-tools-version:6.0
        // Build with the Swift toolchain host was built with (no stable ABI on Linux).
        import PackageDescription

        let package = Package(
            name: "\(name)",
            products: [.library(name: "\(name)", type: .dynamic, targets: ["\(name)"])],
            dependencies: [.package(path: "\(kit)")],
            targets: [.target(name: "\(name)", dependencies: [.product(name: "PluginKit", package: "plugin-kit")])]
        )

        """
    }

    /// The Swift source: the C template's step through PluginKit.
    static func swiftSource(_ name: String) -> String {
        """
        import PluginKit

        /// \(name): a host plugin. The ABI is host_plugin.h, the guide plugins.md (the end of `host --help` says where).
        let plugin = Plugin(name: "\(name)", version: "0.1.0", steps: [
            Step("\(name).hello", summary: "Write a greeting into hello.txt in the machine",
                 parameters: [.string("name", default: "world", help: "who to greet"),
                              .int("times", default: 1, range: 1...100, flags: .namedOnly, help: "how many lines")]) { call in
                let who = call.string("name")
                guard !who.contains("'") else { throw StepError.usage("--name must not contain a single quote") }
                try call.run("for i in $(seq \\(call.int("times"))); do echo 'Hello, \\(who)!'; done > hello.txt")
                call.log("wrote hello.txt")
                return call.machine // keep the change: host caches the result
            },
        ])

        @_cdecl("host_plugin_entry_v1")
        public func hostPluginEntry() -> UnsafeRawPointer { plugin.descriptor }

        """
    }

    /// The C source: a step with a positional string and a named-only int,
    /// which runs a command, logs, and keeps the machine.
    static func cSource(_ name: String) -> String {
        """
        /* \(name): a host plugin. Build: see `host plugin-template c \(name)`;
         * the ABI is host_plugin.h, the guide plugins.md (the end of `host --help` says where). */
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
