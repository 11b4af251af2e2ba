# The gptq plugin's fuzz target (included by fuzz/CMakeLists.txt, built by scripts/fuzz.sh); seeds in
# corpus/fuzz_gptq_config/.
oft_add_plugin_fuzz_target(NAME fuzz_gptq_config
                           SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_gptq_config.cpp ${CMAKE_CURRENT_LIST_DIR}/../src/gptq_config.cpp
                           INCLUDES ${CMAKE_CURRENT_LIST_DIR}/../src)
