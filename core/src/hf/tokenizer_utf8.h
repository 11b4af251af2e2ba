#pragma once
// UTF-8 helpers shared by the LLM tokenizers (internal to liboft_core).
#include <cstddef>
#include <string>
#include <string_view>

namespace oft::models::tok {

// Byte length of the UTF-8 sequence that starts with this lead byte (1 for stray bytes).
inline std::size_t utf8_length(unsigned char lead) { return lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4; }

// oft::UsageError naming the byte offset when text is not valid UTF-8.
void check_utf8(std::string_view text);

// Bytes as text, each invalid sequence replaced by U+FFFD the way Rust's String::from_utf8_lossy does
// (one replacement per maximal invalid subpart), which the `tokenizers` ByteLevel decoder uses.
std::string utf8_lossy(std::string_view bytes);

void append_utf8(char32_t c, std::string& out);

}  // namespace oft::models::tok
