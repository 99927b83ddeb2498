import Foundation
import PluginKit

/// "512M", "1G", "2048" (MiB) -> MiB.
public func mebibytes(_ text: String, _ parameter: String) throws -> Int {
    let units: [Character: Int] = ["M": 1, "G": 1024, "T": 1024 * 1024]
    let upper = text.uppercased()
    let (digits, unit) = upper.last.flatMap { units[$0] }.map { (upper.dropLast(), $0) } ?? (Substring(upper), 1)
    if let value = Int(digits), value > 0 {
        let (size, overflow) = value.multipliedReportingOverflow(by: unit)
        if !overflow { return size }
    }
    throw StepError.usage("--\(parameter)=\(text) is not a size; write it like 512M or 2G")
}
