# The awq plugin's fuzz target (included by fuzz/CMakeLists.txt, built by scripts/fuzz.sh); seeds in
# corpus/fuzz_awq_config/.
oft_add_plugin_fuzz_target(NAME fuzz_awq_config
                           SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_awq_config.cpp ${CMAKE_CURRENT_LIST_DIR}/../src/awq_config.cpp
                           INCLUDES ${CMAKE_CURRENT_LIST_DIR}/../src)
