import FuzzInput

runFuzzer(fuzzPipeline)
