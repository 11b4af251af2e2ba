# The eetq plugin's fuzz target (included by fuzz/CMakeLists.txt, built by scripts/fuzz.sh); seeds in
# corpus/fuzz_eetq_config/.
oft_add_plugin_fuzz_target(NAME fuzz_eetq_config
                           SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_eetq_config.cpp ${CMAKE_CURRENT_LIST_DIR}/../src/eetq_config.cpp
                           INCLUDES ${CMAKE_CURRENT_LIST_DIR}/../src)
