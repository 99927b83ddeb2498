#ifndef FUZZER_DRIVER_H
#define FUZZER_DRIVER_H
#include <stddef.h>
#include <stdint.h>

/* libFuzzer's own driver (compiler-rt's FuzzerInterface.h), for a main
 * that is not libFuzzer's: SwiftPM names each executable's entry point
 * itself, so each target's entry calls this. */
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
