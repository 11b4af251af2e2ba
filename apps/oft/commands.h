#pragma once
// Subcommands of the `oft` application. Each registers its options on the CLI11 app; they share the
// Host (host config, plugins).
#include <CLI/CLI.hpp>

namespace oft::app {

class Host;

// `oft demo`: the main job (OFT fine-tuning of all-MiniLM-L6-v2 on the bundled task).
void add_demo_command(CLI::App& app, Host& host);
// `oft plugins [--json]`: the plugin search path, every plugin file found with its status, the
// dispatchers in the order they are asked and the quantized-linear formats.
void add_plugins_command(CLI::App& app, Host& host);
// `oft plan`: targeted modules, who claims them, block layout, parameters, mergeability.
void add_plan_command(CLI::App& app, Host& host);
// `oft forward`: run a model with adapters on token ids.
void add_forward_command(CLI::App& app, Host& host);
// `oft train --config TRAIN.json`.
void add_train_command(CLI::App& app, Host& host);
// `oft merge`: merge adapters and write a full checkpoint.
void add_merge_command(CLI::App& app, Host& host);
// `oft quantize`: quantize a dense checkpoint with a backend plugin's format.
void add_quantize_command(CLI::App& app, Host& host);
// `oft generate`: KV-cached text generation with a causal LM and its adapters.
void add_generate_command(CLI::App& app, Host& host);
// `oft tokenize --model DIR [--json] TEXT...`: token ids of texts with the model folder's tokenizer.
void add_tokenize_command(CLI::App& app);

}  // namespace oft::app
