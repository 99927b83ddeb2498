/* Declarations only: the driver is in libFuzzer. */
