# The hqq plugin's fuzz target (included by fuzz/CMakeLists.txt, built by scripts/fuzz.sh); seeds in
# corpus/fuzz_hqq_config/.
oft_add_plugin_fuzz_target(NAME fuzz_hqq_config
                           SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_hqq_config.cpp ${CMAKE_CURRENT_LIST_DIR}/../src/hqq_config.cpp
                           INCLUDES ${CMAKE_CURRENT_LIST_DIR}/../src)
