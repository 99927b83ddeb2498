import FuzzInput

runFuzzer(fuzzDescriptor)
