import FuzzInput

runFuzzer(fuzzMirror)
