#pragma once
// GPT-2's byte-to-character table (`bytes_to_unicode`): printable bytes stand for themselves, the
// others for U+0100 onwards, so that every byte string is printable text for BPE.
#include <string>

namespace oft::models::tok {

// The UTF-8 text of the character that stands for a byte.
const std::string& byte_level_char(unsigned char byte);
// The byte a character stands for, or -1 when the character is not in the table.
int byte_level_byte(char32_t c);

}  // namespace oft::models::tok
