// sdk::for_each_token_group: groups of the most tokens a kernel takes, then one group of exactly the tokens left.
#include <gtest/gtest.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "oft/sdk/token_groups.h"

namespace {

// (first token, tokens) of each call, in call order.
std::vector<std::pair<int64_t, int>> groups_for(int64_t tokens) {
  std::vector<std::pair<int64_t, int>> groups;
  oft::sdk::for_each_token_group<4>(tokens, [&](auto count, int64_t first) {
    static_assert(decltype(count)::value >= 1 && decltype(count)::value <= 4);
    groups.emplace_back(first, decltype(count)::value);
  });
  return groups;
}

TEST(TokenGroups, WholeGroupsThenTheTokensLeftInOneGroup) {
  using Groups = std::vector<std::pair<int64_t, int>>;
  EXPECT_EQ(groups_for(0), Groups{});
  EXPECT_EQ(groups_for(1), (Groups{{0, 1}}));
  EXPECT_EQ(groups_for(3), (Groups{{0, 3}}));
  EXPECT_EQ(groups_for(4), (Groups{{0, 4}}));
  EXPECT_EQ(groups_for(8), (Groups{{0, 4}, {4, 4}}));
  EXPECT_EQ(groups_for(11), (Groups{{0, 4}, {4, 4}, {8, 3}}));
  EXPECT_EQ(groups_for(13), (Groups{{0, 4}, {4, 4}, {8, 4}, {12, 1}}));
}

TEST(TokenGroups, OneTokenGroupsCoverEveryToken) {
  int64_t covered = 0;
  oft::sdk::for_each_token_group<1>(5, [&](auto count, int64_t first) {
    EXPECT_EQ(first, covered);
    covered += decltype(count)::value;
  });
  EXPECT_EQ(covered, 5);
}

}  // namespace
