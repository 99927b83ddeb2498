import FuzzInput

runFuzzer(fuzzRecords)
