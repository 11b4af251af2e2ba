#pragma once
// The library's logger ("oft"), through spdlog. Warnings that PEFT prints (block-size adjustment,
// version notes) go here at warn level; progress at info; internals at debug.
#include <memory>

#include <spdlog/spdlog.h>

namespace oft {

std::shared_ptr<spdlog::logger> logger();

}  // namespace oft
