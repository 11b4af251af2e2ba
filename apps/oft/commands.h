#pragma once
// Subcommands of the `oft` application. Each registers its options on the CLI11 app and runs.
#include <CLI/CLI.hpp>

namespace oft::app {

// `oft demo`: trains an OFT adapter on one layer for a few steps and shows merging is exact.
void add_demo_command(CLI::App& app);

// `oft plugins [--json]`: the plugin search path, every plugin file found with its status, and the
// dispatchers in the order they are asked.
void add_plugins_command(CLI::App& app);

}  // namespace oft::app
