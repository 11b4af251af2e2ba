// Tokenizes a text file line by line with a model folder's tokenizer, single-threaded, and prints
// {"seconds", "bytes", "tokens"} as JSON. bench/tokenizers/compare_tokenizers.py runs it next to the
// Rust `tokenizers` library on the same file.
//   bench_tokenizers MODEL_DIR TEXT_FILE
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "oft/hf/text_tokenizer.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: bench_tokenizers MODEL_DIR TEXT_FILE\n");
    return 2;
  }
  const auto tokenizer = oft::models::load_tokenizer(argv[1]);
  std::ifstream in(argv[2], std::ios::binary);
  std::vector<std::string> lines;
  std::size_t bytes = 0;
  for (std::string line; std::getline(in, line);) {
    bytes += line.size();
    lines.push_back(std::move(line));
  }
  std::size_t tokens = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const auto& line : lines) tokens += tokenizer->encode(line, false).size();
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
  std::printf("{\"seconds\": %.4f, \"bytes\": %zu, \"tokens\": %zu}\n", seconds.count(), bytes, tokens);
  return 0;
}
