# The aqlm plugin's fuzz target (included by fuzz/CMakeLists.txt, built by scripts/fuzz.sh); seeds in
# corpus/fuzz_aqlm_config/.
oft_add_plugin_fuzz_target(NAME fuzz_aqlm_config
                           SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_aqlm_config.cpp ${CMAKE_CURRENT_LIST_DIR}/../src/aqlm_config.cpp
                           INCLUDES ${CMAKE_CURRENT_LIST_DIR}/../src)
