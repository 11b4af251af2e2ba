// no_entry: a valid shared library that does not export the plugin entry point.
extern "C" __attribute__((visibility("default"))) int oft_fixture_unrelated_function(void);
int oft_fixture_unrelated_function(void) { return 42; }
