#pragma once
// A product kernel compiled for a fixed number of tokens (its accumulators live in registers) runs over any
// number of tokens: groups of the most it takes, then one kernel compiled for exactly the tokens left.

#include <cstdint>
#include <type_traits>

namespace oft::sdk {

template <int kTokens>
using TokenCount = std::integral_constant<int, kTokens>;

namespace detail {

template <int kTokens, typename Group>
void last_token_group(int64_t first, int64_t count, const Group& group) {
  if constexpr (kTokens >= 1) {
    if (count == kTokens)
      group(TokenCount<kTokens>{}, first);
    else
      last_token_group<kTokens - 1>(first, count, group);
  }
}

}  // namespace detail

// Calls group(TokenCount<k>{}, first) for consecutive groups of tokens [first, first + k) covering [0, tokens):
// k = kMostTokens for each whole group, then once k = the tokens left (fewer), with k a compile-time constant.
template <int kMostTokens, typename Group>
void for_each_token_group(int64_t tokens, const Group& group) {
  static_assert(kMostTokens >= 1, "a group holds at least one token");
  int64_t first = 0;
  for (; first + kMostTokens <= tokens; first += kMostTokens) group(TokenCount<kMostTokens>{}, first);
  if (first < tokens) detail::last_token_group<kMostTokens - 1>(first, tokens - first, group);
}

}  // namespace oft::sdk
