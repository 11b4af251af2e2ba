# oft_add_plugin(NAME <name> SOURCES <files...> [TARGET <target>])
# Builds a backend plugin, liboft_backend_<name>.so, against the oft SDK (target oft::sdk):
# a MODULE library with hidden symbols (only the OFT_PLUGIN entry point is exported), every symbol
# resolved at link time (-z defs: a missing one fails the build, not the host's dlopen), and static
# copies of other libraries kept private. TARGET defaults to oft_backend_<name>.
function(oft_add_plugin)
  cmake_parse_arguments(arg "" "NAME;TARGET" "SOURCES" ${ARGN})
  if(NOT arg_NAME MATCHES "^[a-z0-9_]+$")
    message(FATAL_ERROR "oft_add_plugin: NAME '${arg_NAME}' must match [a-z0-9_]+ (it names liboft_backend_<name>.so)")
  endif()
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "oft_add_plugin(NAME ${arg_NAME}): SOURCES is empty")
  endif()
  set(target ${arg_TARGET})
  if(NOT target)
    set(target oft_backend_${arg_NAME})
  endif()
  add_library(${target} MODULE ${arg_SOURCES})
  target_link_libraries(${target} PRIVATE oft::sdk)
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME oft_backend_${arg_NAME}
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${target} PRIVATE LINKER:-z,defs LINKER:--exclude-libs,ALL)
  # Set by the oft build for its shipped plugins: `cmake --install` puts them in the host's plugin folder.
  if(OFT_PLUGIN_INSTALL_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION ${OFT_PLUGIN_INSTALL_DIR} COMPONENT runtime)
  endif()
endfunction()
