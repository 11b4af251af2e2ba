# ccache for every C++ compile. The sloppiness settings let it cache translation units that use
# precompiled headers (LibTorch headers dominate build time).
find_program(OFT_CCACHE ccache)
if(OFT_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER
      ${CMAKE_COMMAND} -E env CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      ${OFT_CCACHE})
  message(STATUS "ccache: ${OFT_CCACHE}")
endif()
